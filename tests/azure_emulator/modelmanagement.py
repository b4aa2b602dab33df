"""Fake model management service: assets, models, web services, operations, keys and logs."""

from __future__ import annotations

import copy
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from .http import Request, Response, Router, error_response, json_response
from .workspace_api import WS, now_iso

if TYPE_CHECKING:
    from .emulator import AzureEmulator

_TERMINAL = ("Succeeded", "Failed", "Cancelled", "TimedOut")


def _matches_tags(record_tags: dict[str, str], query: str | None) -> bool:
    # The SDK sends tags=[[k, v], k2] as "k=v,k2": every pair must match, a bare key must exist.
    for item in filter(None, (query or "").split(",")):
        key, sep, value = item.partition("=")
        if key not in record_tags or (sep and record_tags[key] != value):
            return False
    return True


def _apply_patch(target: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for operation in operations or []:
        parts = [p for p in operation.get("path", "").split("/") if p]
        if not parts:
            continue
        node = target
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if operation.get("op") == "remove":
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = operation.get("value")


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    state = emulator.state
    mms = rf"/modelmanagement/v1\.0{WS}"

    def guarded(handler):
        def wrapper(request: Request, **kwargs: str) -> Response:
            if not emulator.bearer_ok(request):
                return emulator.unauthorized()
            for key in ("sub", "rg", "ws"):
                kwargs.pop(key, None)
            return handler(request, **kwargs)
        return wrapper

    def not_found(kind: str, name: str) -> Response:
        return error_response(404, "NotFound", f"{kind} {name} not found in workspace {emulator.workspace_name}.")

    # -- assets and models ---------------------------------------------------------------------------------------
    def create_asset(request: Request) -> Response:
        body = request.json() or {}
        asset = dict(body)
        asset.update({"id": uuid.uuid4().hex, "createdTime": now_iso(), "kvTags": body.get("kvTags") or {},
                      "properties": body.get("properties") or {}, "meta": body.get("meta") or {}})
        with emulator.lock:
            state.assets[asset["id"]] = asset
        return json_response(asset)

    def get_asset(request: Request, asset_id: str) -> Response:
        with emulator.lock:
            asset = state.assets.get(asset_id)
        return json_response(asset) if asset else not_found("Asset", asset_id)

    def register_model(request: Request) -> Response:
        body = request.json() or {}
        name = body.get("name")
        if not name or not body.get("url"):
            return error_response(400, "BadRequest", "A model needs a name and a url.")
        with emulator.lock:
            version = 1 + max((m["version"] for m in state.models.values() if m["name"] == name), default=0)
            model = {
                "id": f"{name}:{version}", "name": name, "framework": body.get("framework") or "Custom",
                "frameworkVersion": body.get("frameworkVersion"), "version": version,
                "datasets": body.get("datasets") or [], "url": body["url"],
                "mimeType": body.get("mimeType") or "application/json", "description": body.get("description"),
                "createdTime": now_iso(), "modifiedTime": now_iso(), "unpack": bool(body.get("unpack")),
                "parentModelId": body.get("parentModelId"), "runId": body.get("runId"),
                "experimentName": body.get("experimentName"), "kvTags": body.get("kvTags") or {},
                "properties": body.get("properties") or {}, "derivedModelIds": [],
                "sampleInputData": body.get("sampleInputData"), "sampleOutputData": body.get("sampleOutputData"),
                "resourceRequirements": body.get("resourceRequirements"),
                "createdBy": {"userObjectId": emulator.client_id, "userPuId": None,
                              "userTenantId": emulator.tenant_id, "userName": emulator.client_id},
                "_seq": len(state.models),
            }
            state.models[model["id"]] = model
        return json_response(_public(model))

    def query_models(request: Request) -> Response:
        query = request.query
        with emulator.lock:
            models = [m for m in state.models.values()
                      if (not query.get("name") or m["name"] == query["name"])
                      and (not query.get("framework") or m["framework"] == query["framework"])
                      and (not query.get("runId") or m["runId"] == query["runId"])
                      and _matches_tags(m["kvTags"], query.get("tags"))
                      and _matches_tags(m["properties"], query.get("properties"))
                      and (not query.get("tag") or query["tag"] in m["kvTags"])]
        models.sort(key=lambda m: m["_seq"], reverse=True)  # newest first, as the service answers
        if query.get("latestVersionOnly", "").lower() == "true":
            seen: set[str] = set()
            models = [m for m in models if not (m["name"] in seen or seen.add(m["name"]))]
        if query.get("count"):
            models = models[: int(query["count"])]
        return json_response({"value": [_public(m) for m in models]})

    def get_model(request: Request, model_id: str) -> Response:
        with emulator.lock:
            model = state.models.get(model_id)
        return json_response(_public(model)) if model else not_found("Model", model_id)

    def patch_model(request: Request, model_id: str) -> Response:
        with emulator.lock:
            model = state.models.get(model_id)
            if model is None:
                return not_found("Model", model_id)
            _apply_patch(model, request.json())
            model["modifiedTime"] = now_iso()
            return json_response(_public(model))

    def delete_model(request: Request, model_id: str) -> Response:
        with emulator.lock:
            if state.models.pop(model_id, None) is None:
                return not_found("Model", model_id)
        return Response(200)

    # -- services and operations -----------------------------------------------------------------------------
    def start_operation(request: Request, service_name: str, operation_type: str) -> Response:
        fault = request.fault
        op_id = str(uuid.uuid4())
        with emulator.lock:
            state.operations[op_id] = {
                "id": op_id, "operationType": operation_type, "service": service_name, "reads": 0,
                "polls": state.operation_polls, "createdTime": now_iso(),
                "fail": fault.options.get("message", "Container crashed: score.py init() raised an exception.")
                if fault is not None and fault.kind == "operation_failed" else None,
                "hang": fault is not None and fault.kind == "operation_hangs",
            }
        location = f"{emulator.api_host_url}/modelmanagement/v1.0{emulator.workspace_scope}/operations/{op_id}"
        return json_response({"id": service_name, "operationId": op_id}, 202,
                             {"Operation-Location": location})

    def busy(service_name: str) -> bool:
        return any(op["service"] == service_name and op.get("state") not in _TERMINAL
                   for op in state.operations.values())

    def service_record(body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        compute_type = body.get("computeType", "ACI")
        name = body["name"]
        image_request = copy.deepcopy(body.get("environmentImageRequest") or {})
        model_ids = image_request.get("modelIds") or []
        models = []
        for model_id in model_ids:
            model = state.models.get(model_id)
            if model is not None:
                public = _public(model)
                public["tags"] = public["kvTags"]
                models.append(public)
        resources = body.get("containerResourceRequirements") or {}
        resources = {"cpu": resources.get("cpu") or 0.1, "cpuLimit": resources.get("cpuLimit"),
                     "memoryInGB": resources.get("memoryInGB") or 0.5,
                     "memoryInGBLimit": resources.get("memoryInGBLimit"), "gpu": resources.get("gpu")}
        record: dict[str, Any] = {
            "id": name, "name": name, "computeType": compute_type,
            "createdTime": existing["createdTime"] if existing else now_iso(), "updatedTime": now_iso(),
            "description": body.get("description"), "kvTags": body.get("kvTags") or {},
            "properties": body.get("properties") or {}, "state": "Transitioning", "error": None,
            "createdBy": {"userObjectId": emulator.client_id, "userName": emulator.client_id,
                          "userTenantId": emulator.tenant_id},
            "appInsightsEnabled": bool(body.get("appInsightsEnabled")),
            # Both services default to key auth when the deploy configuration leaves it unset.
            "authEnabled": body.get("authEnabled") if body.get("authEnabled") is not None
            else compute_type == "AKS",
            "containerResourceRequirements": resources, "environmentImageRequest": image_request,
            "models": models, "modelConfigMap": {}, "imageId": None, "imageDigest": None,
        }
        if compute_type == "AKS":
            compute = body.get("computeName")
            autoscaler = body.get("autoScaler") or {}
            probe = body.get("livenessProbeRequirements") or {}
            collection = body.get("dataCollection") or {}
            record.update({
                "computeName": compute,
                "scoringUri": f"http://{compute}.{emulator.region}.cloudapp.azure.com/api/v1/service/{name}/score",
                "swaggerUri": f"http://{compute}.{emulator.region}.cloudapp.azure.com/api/v1/service/{name}"
                              "/swagger.json",
                "autoScaler": {"autoscaleEnabled": autoscaler.get("autoscaleEnabled", True),
                               "maxReplicas": autoscaler.get("maxReplicas") or 10,
                               "minReplicas": autoscaler.get("minReplicas") or 1,
                               "refreshPeriodInSeconds": autoscaler.get("refreshPeriodInSeconds") or 1,
                               "targetUtilization": autoscaler.get("targetUtilization") or 70},
                "dataCollection": {"eventHubEnabled": bool(collection.get("eventHubEnabled")),
                                   "storageEnabled": bool(collection.get("storageEnabled"))},
                "maxConcurrentRequestsPerContainer": body.get("maxConcurrentRequestsPerContainer") or 1,
                "maxQueueWaitMs": body.get("maxQueueWaitMs") or 500,
                "numReplicas": body.get("numReplicas"),
                "scoringTimeoutMs": body.get("scoringTimeoutMs") or 60000,
                "livenessProbeRequirements": {"periodSeconds": probe.get("periodSeconds") or 10,
                                              "initialDelaySeconds": probe.get("initialDelaySeconds") or 310,
                                              "timeoutSeconds": probe.get("timeoutSeconds") or 2,
                                              "failureThreshold": probe.get("failureThreshold") or 3,
                                              "successThreshold": probe.get("successThreshold") or 1},
                "aadAuthEnabled": bool(body.get("aadAuthEnabled")),
                "namespace": body.get("namespace") or "default", "deploymentStatus": None,
                "isDefault": None, "trafficPercentile": None, "type": None,
            })
        else:
            fqdn = f"{name}.{emulator.region}.azurecontainer.io"
            record.update({
                "location": body.get("location") or emulator.region, "cname": body.get("cname"),
                "publicIp": "127.0.0.1", "publicFqdn": fqdn, "scoringUri": f"http://{fqdn}/score",
                "swaggerUri": f"http://{fqdn}/swagger.json", "sslCertificate": body.get("sslCertificate"),
                "sslEnabled": bool(body.get("sslEnabled")), "sslKey": body.get("sslKey"),
            })
        return record

    def create_service(request: Request) -> Response:
        body = request.json() or {}
        name = body.get("name")
        if not name:
            return error_response(400, "BadRequest", "A service needs a name.")
        if body.get("computeType") == "AKS":
            compute = state.computes.get(body.get("computeName") or "")
            if compute is None or compute["properties"]["computeType"] != "AKS":
                return error_response(400, "BadRequest",
                                      f"Compute {body.get('computeName')} is not an AKS compute in this workspace.")
        with emulator.lock:
            existing = state.services.get(name)
            if existing is not None and not body.get("overwrite"):
                return error_response(409, "Conflict", f"Service {name} with the same name already exists, please "
                                      "use a different service name or delete the existing service.")
            if existing is not None and busy(name):
                return error_response(409, "Conflict", f"An operation is in progress on service {name}.")
            missing = [m for m in (body.get("environmentImageRequest") or {}).get("modelIds") or []
                       if m not in state.models]
            if missing:
                return error_response(400, "BadRequest", f"Models not found: {', '.join(missing)}")
            state.services[name] = service_record(body, existing)
            state.service_keys.setdefault(name, {"primaryKey": secrets.token_urlsafe(24),
                                                 "secondaryKey": secrets.token_urlsafe(24)})
        return start_operation(request, name, "ServiceCreate" if existing is None else "ServiceUpdate")

    def advance_operation(op: dict[str, Any]) -> None:
        # Each poll is one step; the operation ends after `polls` reads unless scripted to hang.
        reads = op["reads"]
        op["reads"] = reads + 1
        if op.get("state") in _TERMINAL:
            return
        service = state.services.get(op["service"])
        if op["hang"] or reads < op["polls"]:
            op["state"] = "Running"
            return
        if op["fail"]:
            op["state"] = "Failed"
            op["error"] = {"code": "DeploymentFailed", "statusCode": 400, "message": op["fail"],
                           "details": [{"code": "CrashLoopBackOff", "message": op["fail"]}]}
            if service is not None:
                service["state"] = "Failed"
                service["error"] = op["error"]
        else:
            op["state"] = "Succeeded"
            if service is not None and op["operationType"] != "ServiceDelete":
                service["state"] = "Healthy"
                service["error"] = None
        op["endTime"] = now_iso()

    def get_operation(request: Request, op_id: str) -> Response:
        with emulator.lock:
            op = state.operations.get(op_id)
            if op is None:
                return not_found("Operation", op_id)
            advance_operation(op)
            reply = {"id": op_id, "operationType": op["operationType"], "state": op["state"],
                     "createdTime": op["createdTime"], "endTime": op.get("endTime"),
                     "resourceLocation": f"/modelmanagement/v1.0{emulator.workspace_scope}/services/{op['service']}",
                     "operationDetails": {"subOperationType": "DeployService"}, "parentRequestId": op_id}
            if op.get("error"):
                reply["error"] = op["error"]
        return json_response(reply)

    def public_service(service: dict[str, Any]) -> dict[str, Any]:
        reply = copy.deepcopy(service)
        if reply.get("error") is None:
            reply.pop("error", None)
        return reply

    def get_service(request: Request, name: str) -> Response:
        with emulator.lock:
            service = state.services.get(name)
            if service is None:
                return not_found("Service", name)
            return json_response(public_service(service))

    def list_services(request: Request) -> Response:
        query = request.query
        with emulator.lock:
            found = [public_service(s) for s in state.services.values()
                     if (not query.get("computeType") or s["computeType"] == query["computeType"])
                     and (not query.get("modelName") or any(m["name"] == query["modelName"] for m in s["models"]))
                     and (not query.get("modelId") or any(m["id"] == query["modelId"] for m in s["models"]))
                     and _matches_tags(s["kvTags"], query.get("tags"))]
        return json_response({"value": found})

    def patch_service(request: Request, name: str) -> Response:
        with emulator.lock:
            service = state.services.get(name)
            if service is None:
                return not_found("Service", name)
            if busy(name):
                return error_response(409, "Conflict", f"An operation is in progress on service {name}.")
            _apply_patch(service, request.json())
            image_request = service.get("environmentImageRequest") or {}
            if image_request.get("modelIds"):
                service["models"] = [dict(_public(state.models[m]), tags=state.models[m]["kvTags"])
                                     for m in image_request["modelIds"] if m in state.models]
            service["state"] = "Transitioning"
            service["updatedTime"] = now_iso()
        return start_operation(request, name, "ServiceUpdate")

    def delete_service(request: Request, name: str) -> Response:
        with emulator.lock:
            if state.services.pop(name, None) is None:
                return Response(204)
            state.service_keys.pop(name, None)
        return Response(200)

    def service_logs(request: Request, name: str) -> Response:
        with emulator.lock:
            service = state.services.get(name)
            if service is None:
                return not_found("Service", name)
            lines = [f"{now_iso()} | emulator | Starting container for service {name}",
                     "Initializing scoring server", "Loading score.py"]
            if service["state"] == "Failed":
                message = (service.get("error") or {}).get("message", "init() failed")
                lines += ["Traceback (most recent call last):", f"  Error: {message}", "Worker exiting (pid: 42)"]
            else:
                lines += ["Users's init has completed successfully", "Scoring timeout is set to 60000",
                          "Listening at: http://0.0.0.0:31311"]
            tail = int(request.query.get("tail") or 5000)
        return json_response({"content": "\n".join(lines[-tail:]) + "\n"})

    def list_keys(request: Request, name: str) -> Response:
        with emulator.lock:
            keys = state.service_keys.get(name)
        if keys is None:
            return not_found("Service", name)
        return json_response(dict(keys))

    def regenerate_keys(request: Request, name: str) -> Response:
        body = request.json() or {}
        key_type = (body.get("keyType") or "").capitalize()
        if key_type not in ("Primary", "Secondary"):
            return error_response(400, "BadRequest", "keyType must be Primary or Secondary.")
        with emulator.lock:
            keys = state.service_keys.get(name)
            if keys is None:
                return not_found("Service", name)
            keys[f"{key_type.lower()}Key"] = body.get("keyValue") or secrets.token_urlsafe(24)
        return start_operation(request, name, "ServiceKeyRegeneration")

    def service_token(request: Request, name: str) -> Response:
        with emulator.lock:
            service = state.services.get(name)
            if service is None:
                return not_found("Service", name)
            token = secrets.token_urlsafe(32)
            state.service_keys.setdefault(name, {}).setdefault("tokens", "")
            state.service_keys[name]["tokens"] += f" {token}"
        return json_response({"accessToken": token, "refreshAfter": 3600, "expiryOn": 7200})

    def validate(request: Request, name: str | None = None) -> Response:
        if name is not None:
            with emulator.lock:
                exists = name in state.services
            if exists:
                return json_response({"error": {"code": "Conflict", "message":
                                                f"Service {name} with the same name already exists."}})
        return json_response({})

    router.add("POST", mms + r"/assets", guarded(create_asset))
    router.add("GET", mms + r"/assets/(?P<asset_id>[^/]+)", guarded(get_asset))
    router.add("POST", mms + r"/models", guarded(register_model))
    router.add("GET", mms + r"/models", guarded(query_models))
    router.add("GET", mms + r"/models/(?P<model_id>[^/]+)", guarded(get_model))
    router.add("PATCH", mms + r"/models/(?P<model_id>[^/]+)", guarded(patch_model))
    router.add("DELETE", mms + r"/models/(?P<model_id>[^/]+)", guarded(delete_model))
    router.add("POST", mms + r"/services/validate(?:/resource)?", guarded(validate))
    router.add("POST", mms + r"/services/validate/name/(?P<name>[^/]+)", guarded(validate))
    router.add("POST", mms + r"/services", guarded(create_service))
    router.add("GET", mms + r"/services", guarded(list_services))
    router.add("GET", mms + r"/services/(?P<name>[^/]+)", guarded(get_service))
    router.add("PATCH", mms + r"/services/(?P<name>[^/]+)", guarded(patch_service))
    router.add("DELETE", mms + r"/services/(?P<name>[^/]+)", guarded(delete_service))
    router.add("GET", mms + r"/services/(?P<name>[^/]+)/logs", guarded(service_logs))
    router.add("POST", mms + r"/services/(?P<name>[^/]+)/listkeys", guarded(list_keys))
    router.add("POST", mms + r"/services/(?P<name>[^/]+)/regenerateKeys", guarded(regenerate_keys))
    router.add("POST", mms + r"/services/(?P<name>[^/]+)/token", guarded(service_token))
    router.add("GET", mms + r"/operations/(?P<op_id>[^/]+)", guarded(get_operation))
    return router


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}
