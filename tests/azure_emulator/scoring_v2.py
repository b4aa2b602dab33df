"""Fake scoring hosts of v2 endpoints: online endpoints (key or token, routed by traffic or by the
`azureml-model-deployment` header) and batch endpoints (invoked with an Entra ID token, answering with a job)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import arm_v2
from .http import Request, Response, error_response, json_response

if TYPE_CHECKING:
    from .emulator import AzureEmulator


def _endpoint_for(emulator: AzureEmulator, host: str, path: str = "") -> tuple[str, dict[str, Any]] | None:
    """(kind, endpoint record) served at this host (and path, for Kubernetes endpoints sharing an ingress)."""
    state: arm_v2.V2State = emulator.v2
    with emulator.lock:
        for name, record in state.online_endpoints.items():
            compute = (record["properties"].get("compute") or "").rsplit("/", 1)[-1]
            if compute:
                if host == arm_v2.kubernetes_scoring_host(emulator, compute) and \
                        (not path or path.startswith(f"/api/v1/endpoint/{name}/")):
                    return "online", record
            elif host == arm_v2.online_scoring_host(emulator, name):
                return "online", record
        for name, record in state.batch_endpoints.items():
            if host == arm_v2.online_scoring_host(emulator, name):
                return "batch", record
    return None


def serves(emulator: AzureEmulator, host: str) -> bool:
    return _endpoint_for(emulator, host) is not None


def build(emulator: AzureEmulator) -> Callable[[Request], Response]:
    state: arm_v2.V2State = emulator.v2

    def online(request: Request, endpoint: dict[str, Any]) -> Response:
        name = endpoint["name"]
        if request.path.endswith("/swagger.json"):
            return json_response({"swagger": "2.0", "info": {"title": name, "version": "1.0"}, "paths": {}})
        with emulator.lock:
            keys = dict(state.endpoint_keys.get(name, {}))
            traffic = dict(endpoint["properties"].get("traffic") or {})
            deployments = {d: r for (e, d), r in state.online_deployments.items() if e == name}
        allowed = {keys.get("primaryKey"), keys.get("secondaryKey"), *keys.get("tokens", "").split()} - {None, ""}
        header = request.header("authorization")
        if not header.startswith("Bearer ") or header[7:] not in allowed:
            return Response(401, b"Unauthorized", {"Content-Type": "text/plain"})
        wanted = request.header("azureml-model-deployment")
        if wanted:
            if wanted not in deployments:
                return error_response(404, "DeploymentNotFound", f"Deployment '{wanted}' does not exist.")
            chosen = wanted
        else:
            live = [(d, p) for d, p in traffic.items() if p > 0 and d in deployments]
            if not live:
                return error_response(404, "NoTraffic", "No valid deployments to route to: all traffic is 0 %.")
            chosen = random.choices([d for d, _ in live], weights=[p for _, p in live])[0]
        record = deployments[chosen]
        if record["properties"].get("provisioningState") != "Succeeded":
            return error_response(503, "DeploymentNotReady", f"Deployment '{chosen}' is not ready.")
        with emulator.lock:
            script = state.scoring.get((name, chosen), {"reply": None, "status": 200})
            state.scoring_calls.append({"endpoint": name, "deployment": chosen, "method": request.method,
                                        "header": wanted, "body": request.body.decode("utf-8", "replace")})
        headers = {"azureml-model-deployment": chosen}
        if script["status"] >= 400:
            return Response(script["status"], json.dumps(script["reply"] or "Internal Server Error").encode(),
                            {"Content-Type": "application/json", **headers})
        reply = script["reply"]
        if reply is None:
            try:
                data = json.loads(request.body or b"null")
            except ValueError:
                return Response(400, b'"invalid JSON input"', {"Content-Type": "application/json"})
            rows = data.get("data") if isinstance(data, dict) else data
            reply = {"result": [0 for _ in rows] if isinstance(rows, list) else [0]}
        return json_response(reply, script["status"], headers)

    def batch(request: Request, endpoint: dict[str, Any]) -> Response:
        if not emulator.bearer_ok(request):
            return emulator.unauthorized()
        if request.method != "POST" or not request.path.endswith("/jobs"):
            return error_response(404, "RouteNotFound", f"No route for {request.method} {request.path}")
        name = endpoint["name"]
        with emulator.lock:
            wanted = request.header("azureml-model-deployment") or \
                (endpoint["properties"].get("defaults") or {}).get("deploymentName")
            deployment = state.batch_deployments.get((name, wanted or ""))
        if deployment is None:
            return error_response(400, "BadArgument", f"Batch endpoint '{name}' has no default deployment.")
        try:
            body = request.json() or {}
        except ValueError:
            return error_response(400, "BadRequest", "The request body is not JSON.")
        props = body.get("properties") or {}
        fault = request.fault
        job_name = props.get("name") or f"batchjob-{uuid.uuid4()}"
        component = deployment["properties"]["deploymentConfiguration"]["componentId"]["assetId"]
        inputs = props.get("inputData") or {}
        job = arm_v2.new_job(emulator, job_name, {
            "jobType": "Pipeline", "displayName": job_name,
            "experimentName": (props.get("properties") or {}).get("experimentName") or name,
            "description": None, "tags": {}, "properties": {"azureml.batchEndpoint": name,
                                                           "azureml.batchDeployment": wanted},
            "isArchived": False, "componentId": component, "computeId": None,
            "inputs": {k: _job_input(v) for k, v in inputs.items()}, "outputs": {}, "jobs": {}, "settings": {},
        }, fail=fault.options.get("message", "A step failed.") if fault and fault.kind == "run_failed" else None,
            hang=bool(fault and fault.kind == "operation_hangs"))
        with emulator.lock:
            component_record = arm_v2._asset_by_id(state, component) or {}
        steps = ((component_record.get("properties") or {}).get("componentSpec") or {}).get("jobs") or {}
        for step in steps:
            arm_v2.new_job(emulator, f"{job_name}_{step}", {
                "jobType": "Command", "displayName": step, "experimentName": name, "tags": {},
                "properties": {"azureml.nodeid": step}, "command": "python", "environmentId": None,
                "inputs": {}, "outputs": {}, "isArchived": False,
            }, parent=job_name)
        job["properties"]["jobs"] = {}
        with emulator.lock:
            reply = arm_v2.public_job(job)
        return json_response(reply)

    def handle(request: Request) -> Response:
        found = _endpoint_for(emulator, request.host, request.path)
        if found is None:
            return error_response(404, "EndpointNotFound", "No endpoint answers at this address.")
        kind, endpoint = found
        return online(request, endpoint) if kind == "online" else batch(request, endpoint)

    return handle


# A batch invocation spells input types as the batch job API does; a pipeline job reply as the jobs API does.
_INPUT_TYPES = {"Literal": "literal", "UriFile": "uri_file", "UriFolder": "uri_folder", "MLTable": "mltable",
                "CustomModel": "custom_model", "MLFlowModel": "mlflow_model"}


def _job_input(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {"jobInputType": "literal", "value": str(value)}
    kind = value.get("jobInputType", "literal")
    return {**value, "jobInputType": _INPUT_TYPES.get(kind, kind)}
