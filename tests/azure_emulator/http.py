"""Request and response values, and a small regex router, shared by the emulator's fake services."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 412: "Precondition Failed", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


@dataclass
class Request:
    """One decrypted HTTP/1.1 request as the fake services see it."""

    scheme: str
    host: str
    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    # Set by a scripted fault that must shape the outcome rather than replace the reply.
    fault: Any = None

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> dict[str, str]:
        parsed = parse_qs(urlsplit(self.target).query, keep_blank_values=True)
        return {key: values[-1] for key, values in parsed.items()}

    @property
    def query_lists(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        return {key: values[-1] for key, values in parsed.items()}

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.target}"


@dataclass
class Response:
    """A reply; ``body`` is sent as is, with a Content-Length the proxy computes."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"Content-Type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return Response(status, json.dumps(payload).encode("utf-8"), all_headers)


def error_response(status: int, code: str, message: str, *, envelope: str = "arm",
                   headers: dict[str, str] | None = None) -> Response:
    """Azure's error envelope; the pipelines service capitalises its keys."""
    if envelope == "pipelines":
        payload: dict[str, Any] = {"Error": {"Code": code, "Message": message, "Details": []}}
    else:
        payload = {"error": {"code": code, "message": message}}
    return json_response(payload, status, headers)


Handler = Callable[..., Response]


class Router:
    """Maps (method, path regex) to a handler; named groups become keyword arguments."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z", re.IGNORECASE), handler))

    def dispatch(self, request: Request) -> Response | None:
        for method, pattern, handler in self._routes:
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                continue
            match = pattern.match(request.path)
            if match:
                return handler(request, **match.groupdict())
        return None
