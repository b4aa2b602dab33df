"""Fake scoring endpoints of deployed web services, with per-service scripted replies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .http import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from .emulator import AzureEmulator


def _service_for(emulator: AzureEmulator, host: str, path: str | None = None) -> dict | None:
    with emulator.lock:
        for service in emulator.state.services.values():
            parts = urlsplit(service.get("scoringUri") or "")
            if parts.hostname != host:
                continue
            base = parts.path.rsplit("/", 1)[0]
            if path is None or path.startswith(base + "/") or path == parts.path:
                return service
    return None


def serves(emulator: AzureEmulator, host: str) -> bool:
    return _service_for(emulator, host) is not None


def build(emulator: AzureEmulator) -> Callable[[Request], Response]:
    def handle(request: Request) -> Response:
        service = _service_for(emulator, request.host, request.path)
        if service is None or service.get("state") != "Healthy":
            return error_response(404, "ServiceNotFound", "No healthy service answers at this address.")
        name = service["name"]
        if request.path.endswith("/swagger.json"):
            return json_response({"swagger": "2.0", "info": {"title": name, "version": "1.0"}, "paths": {}})
        if service.get("authEnabled") or service.get("aadAuthEnabled"):
            with emulator.lock:
                keys = dict(emulator.state.service_keys.get(name, {}))
            allowed = {keys.get("primaryKey"), keys.get("secondaryKey"), *keys.get("tokens", "").split()}
            header = request.header("authorization")
            if not header.startswith("Bearer ") or header[7:] not in allowed - {None, ""}:
                return Response(401, b"Unauthorized", {"Content-Type": "text/plain"})
        with emulator.lock:
            script = emulator.state.scoring.get(name, {"reply": None, "status": 200})
            emulator.state.scoring_calls.append({"service": name, "method": request.method,
                                                 "body": request.body.decode("utf-8", "replace")})
        if request.method == "GET":
            return Response(200, b"Healthy", {"Content-Type": "text/plain"})
        if script["status"] >= 400:
            return Response(script["status"], json.dumps(script["reply"] or "Internal Server Error").encode(),
                            {"Content-Type": "application/json"})
        reply = script["reply"]
        if reply is None:
            try:
                data = json.loads(request.body or b"null")
            except ValueError:
                return Response(400, b'"invalid JSON input"', {"Content-Type": "application/json"})
            rows = data.get("data") if isinstance(data, dict) else data
            reply = {"result": [0 for _ in rows] if isinstance(rows, list) else [0]}
        return json_response(reply, script["status"])

    return handle
