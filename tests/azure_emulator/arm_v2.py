"""Fake Azure ML workspace resources on management.azure.com, as azure-ai-ml (SDK v2) reads and writes them.

Versioned assets (models, data, code, environments, components), datastores with listSecrets, computes, managed and
Kubernetes online endpoints and deployments (PUT 201 + Azure-AsyncOperation), keys, logs, batch endpoints and
deployments, and jobs. Reply shapes follow the SDK's generated REST models (arm_ml_service `rest_field` names).
"""

from __future__ import annotations

import copy
import math
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http import Request, Response, Router, error_response, json_response

if TYPE_CHECKING:
    from .emulator import AzureEmulator

PROVIDER = "Microsoft.MachineLearningServices"
WS = (r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
      r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)")
ASSET_KINDS = ("models", "data", "codes", "environments", "components")
JOB_TERMINAL = frozenset({"Completed", "Failed", "Canceled"})


@dataclass
class V2State:
    """What the v2 resources remember; tests read it and script it."""

    assets: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(
        default_factory=lambda: {kind: {} for kind in ASSET_KINDS})
    online_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    online_deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    batch_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    endpoint_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (endpoint, deployment) → {"reply": JSON, "status": int}; default: one 0 per input row.
    scoring: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    scoring_calls: list[dict[str, Any]] = field(default_factory=list)
    # Status reads an operation answers InProgress before it ends, and a job answers per state before the next.
    operation_polls: int = 1
    job_polls: int = 1
    # Sent as Retry-After (whole seconds) on long operations, as Azure does: the SDK's pollers sleep that long
    # between reads, and 5 s when it is absent or 0. With operation_polls, it sets how long an SDK wait takes.
    retry_after: str = "1"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def system_data() -> dict[str, str]:
    stamp = now_iso()
    return {"createdAt": stamp, "createdBy": "mlops-ci-emulator", "createdByType": "Application",
            "lastModifiedAt": stamp, "lastModifiedBy": "mlops-ci-emulator", "lastModifiedByType": "Application"}


def scope(emulator: AzureEmulator) -> str:
    return emulator.workspace_scope


def online_scoring_host(emulator: AzureEmulator, endpoint: str) -> str:
    return f"{endpoint}.{emulator.region}.inference.ml.azure.com"


def kubernetes_scoring_host(emulator: AzureEmulator, compute: str) -> str:
    return f"{compute}.{emulator.region}.cloudapp.azure.com"


def add_kubernetes_compute(emulator: AzureEmulator, name: str) -> dict[str, Any]:
    """An attached Kubernetes compute (the v2 target of Kubernetes online endpoints)."""
    record = {
        "id": f"{scope(emulator)}/computes/{name}", "name": name,
        "type": f"{PROVIDER}/workspaces/computes", "location": emulator.region, "tags": {},
        "properties": {
            "computeType": "Kubernetes", "computeLocation": emulator.region, "description": None,
            "resourceId": (f"/subscriptions/{emulator.subscription_id}/resourceGroups/{emulator.resource_group}"
                           f"/providers/Microsoft.ContainerService/managedClusters/{name}"),
            "provisioningState": "Succeeded", "provisioningErrors": None, "isAttachedCompute": True,
            "createdOn": now_iso(), "modifiedOn": now_iso(),
            "properties": {"namespace": "default", "defaultInstanceType": "defaultinstancetype",
                           "instanceTypes": {"defaultinstancetype": {"resources": {
                               "requests": {"cpu": "100m", "memory": "2Gi"},
                               "limits": {"cpu": "2", "memory": "2Gi"}}}}},
        },
    }
    with emulator.lock:
        emulator.state.computes[name] = record
    return record


def _arm_compute(record: dict[str, Any]) -> dict[str, Any]:
    # The v1 fake writes AKS/AmlCompute records for the data plane; ARM speaks the same shape.
    return copy.deepcopy(record)


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    state: V2State = emulator.v2
    lock = emulator.lock

    def guarded(handler):  # ARM answers 401 without a token from the fake sign-in
        def wrapper(request: Request, **kwargs: str) -> Response:
            if not emulator.bearer_ok(request):
                return emulator.unauthorized()
            sub, rg, ws = kwargs.pop("sub", None), kwargs.pop("rg", None), kwargs.pop("ws", None)
            if sub is not None and (sub != emulator.subscription_id or rg.lower() != emulator.resource_group.lower()
                                    or ws.lower() != emulator.workspace_name.lower()):
                return error_response(404, "ResourceNotFound", f"Workspace '{ws}' was not found.")
            return handler(request, **kwargs)
        return wrapper

    def not_found(kind: str, name: str) -> Response:
        return error_response(404, "UserError", f"{kind} '{name}' was not found in the workspace.")

    def body_of(request: Request) -> dict[str, Any] | Response:
        try:
            body = request.json()
        except ValueError:
            return error_response(400, "BadRequest", "The request body is not JSON.")
        if not isinstance(body, dict):
            return error_response(400, "BadRequest", "The request body must be a JSON object.")
        return body

    # -- long operations ---------------------------------------------------------------------------------------
    def start_operation(request: Request, kind: str, target: tuple[str, ...], *, on_success=None,
                        on_failure=None) -> dict[str, str]:
        fault = request.fault
        op_id = str(uuid.uuid4())
        with lock:
            state.operations[op_id] = {
                "id": op_id, "kind": kind, "target": target, "reads": 0, "polls": state.operation_polls,
                "status": "InProgress", "startTime": now_iso(),
                "fail": fault.options.get("message", "Container crashed: score.py init() raised an exception.")
                if fault is not None and fault.kind == "operation_failed" else None,
                "hang": fault is not None and fault.kind == "operation_hangs",
                "on_success": on_success, "on_failure": on_failure,
            }
        base = (f"https://{arm_host}/subscriptions/{emulator.subscription_id}/providers/{PROVIDER}/locations/"
                f"{emulator.region}")
        version = request.query.get("api-version", "2023-04-01")
        # The SDK's generated code reads Retry-After as a whole number of seconds (a fraction fails to deserialize).
        retry_after = str(max(1, math.ceil(float(state.retry_after))))
        return {"Azure-AsyncOperation": f"{base}/mfeOperationsStatus/{op_id}?api-version={version}",
                "Location": f"{base}/mfeOperationResults/{op_id}?api-version={version}",
                "Retry-After": retry_after, "x-ms-async-operation-timeout": "PT1H"}

    def advance(op: dict[str, Any]) -> None:
        reads = op["reads"]
        op["reads"] = reads + 1
        if op["status"] != "InProgress" or op["hang"] or reads < op["polls"]:
            return
        if op["fail"]:
            op["status"] = "Failed"
            op["error"] = {"code": "DeploymentFailed", "message": op["fail"],
                           "details": [{"code": "ResourceNotReady", "message": op["fail"]}]}
            if op["on_failure"]:
                op["on_failure"](op["fail"])
        else:
            op["status"] = "Succeeded"
            if op["on_success"]:
                op["on_success"]()
        op["endTime"] = now_iso()

    def operation_status(request: Request, sub: str, region: str, op_id: str) -> Response:
        if not emulator.bearer_ok(request):
            return emulator.unauthorized()
        with lock:
            op = state.operations.get(op_id)
            if op is None:
                return not_found("Operation", op_id)
            advance(op)
            reply = {"id": f"/subscriptions/{sub}/providers/{PROVIDER}/locations/{region}/mfeOperationsStatus/"
                           f"{op_id}", "name": op_id, "status": op["status"], "startTime": op["startTime"]}
            if op.get("endTime"):
                reply["endTime"] = op["endTime"]
            if op.get("error"):
                reply["error"] = op["error"]
        headers = {"Retry-After": state.retry_after} if reply["status"] == "InProgress" else {}
        return json_response(reply, headers=headers)

    def operation_result(request: Request, sub: str, region: str, op_id: str) -> Response:
        if not emulator.bearer_ok(request):
            return emulator.unauthorized()
        with lock:
            op = state.operations.get(op_id)
            if op is None:
                return not_found("Operation", op_id)
            advance(op)
            status = op["status"]
        if status == "InProgress":
            return Response(202, b"", {"Retry-After": state.retry_after, "Location": request.url})
        return Response(200 if status == "Succeeded" else 400, b"", {})

    # -- versioned assets ----------------------------------------------------------------------------------------
    def asset_record(kind: str, name: str, version: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{scope(emulator)}/{kind}/{name}/versions/{version}", "name": version,
                "type": f"{PROVIDER}/workspaces/{kind}/versions", "properties": properties,
                "systemData": system_data()}

    def container_record(kind: str, name: str) -> dict[str, Any]:
        versions = state.assets[kind].get(name, {})
        latest = max(versions, key=_version_key) if versions else None
        next_version = str(int(latest) + 1) if latest and latest.isdigit() else "1"
        return {"id": f"{scope(emulator)}/{kind}/{name}", "name": name, "type": f"{PROVIDER}/workspaces/{kind}",
                "properties": {"description": None, "tags": {}, "properties": {}, "isArchived": False,
                               "latestVersion": latest, "nextVersion": next_version, "provisioningState": "Succeeded"},
                "systemData": system_data()}

    def get_container(request: Request, kind: str, name: str) -> Response:
        with lock:
            if name not in state.assets[kind]:
                return not_found(kind.rstrip("s").capitalize(), name)
            return json_response(container_record(kind, name))

    def put_container(request: Request, kind: str, name: str) -> Response:
        with lock:
            state.assets[kind].setdefault(name, {})
            return json_response(container_record(kind, name))

    def list_containers(request: Request, kind: str) -> Response:
        with lock:
            return json_response({"value": [container_record(kind, n) for n in sorted(state.assets[kind])],
                                  "nextLink": None})

    def list_versions(request: Request, kind: str, name: str) -> Response:
        query = request.query
        with lock:
            records = list(state.assets[kind].get(name, {}).values())
        wanted = [t for t in query.get("tags", "").split(",") if t]
        for tag in wanted:
            key, _, value = tag.partition("=")
            records = [r for r in records if key in (r["properties"].get("tags") or {})
                       and (not value or r["properties"]["tags"][key] == value)]
        records.sort(key=lambda r: _version_key(r["name"]), reverse="desc" in query.get("$orderBy", "").lower())
        if "$top" in query:
            records = records[:int(query["$top"])]
        return json_response({"value": copy.deepcopy(records), "nextLink": None})

    def get_version(request: Request, kind: str, name: str, version: str) -> Response:
        with lock:
            record = state.assets[kind].get(name, {}).get(version)
            if record is None:
                return not_found(f"{kind} version", f"{name}:{version}")
            return json_response(copy.deepcopy(record))

    def put_version(request: Request, kind: str, name: str, version: str) -> Response:
        body = body_of(request)
        if isinstance(body, Response):
            return body
        properties = dict(body.get("properties") or {})
        properties.setdefault("tags", {})
        properties.setdefault("properties", {})
        properties.setdefault("isArchived", False)
        properties.setdefault("isAnonymous", False)
        properties["provisioningState"] = "Succeeded"
        if kind == "models":
            properties.setdefault("flavors", {})
        with lock:
            versions = state.assets[kind].setdefault(name, {})
            existing = versions.get(version)
            if existing is not None and kind in ("models", "data") and \
                    _asset_content(existing["properties"]) != _asset_content(properties):
                return error_response(409, "UserError", f"{kind} {name}:{version} already exists with other "
                                      "content; asset versions are immutable.")
            record = asset_record(kind, name, version, properties) if existing is None else existing
            versions[version] = record
            return json_response(copy.deepcopy(record), 201 if existing is None else 200)

    for kind in ASSET_KINDS:
        base = WS + f"/{kind}"
        router.add("GET", base, guarded(lambda r, _k=kind: list_containers(r, _k)))
        router.add("GET", base + r"/(?P<name>[^/]+)", guarded(lambda r, name, _k=kind: get_container(r, _k, name)))
        router.add("PUT", base + r"/(?P<name>[^/]+)", guarded(lambda r, name, _k=kind: put_container(r, _k, name)))
        router.add("GET", base + r"/(?P<name>[^/]+)/versions",
                   guarded(lambda r, name, _k=kind: list_versions(r, _k, name)))
        router.add("GET", base + r"/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
                   guarded(lambda r, name, version, _k=kind: get_version(r, _k, name, version)))
        router.add("PUT", base + r"/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
                   guarded(lambda r, name, version, _k=kind: put_version(r, _k, name, version)))

    # -- code assets: the SDK asks for a blob reference to upload the snapshot to --------------------------------
    def pending_upload(request: Request, name: str, version: str) -> Response:
        from .workspace_api import sas_uri

        container = f"azureml-blobstore-{emulator.workspace_id}"
        path = f"LocalUpload/{uuid.uuid4().hex}"
        return json_response({"blobReferenceForConsumption": {
            "blobUri": f"https://{emulator.blob_host}/{container}/{path}",
            "storageAccountArmId": f"/subscriptions/{emulator.subscription_id}/resourceGroups/"
                                   f"{emulator.resource_group}/providers/Microsoft.Storage/storageAccounts/"
                                   f"{emulator.storage_account}",
            "credential": {"credentialType": "SAS", "sasUri": sas_uri(emulator, container, path)}},
            "pendingUploadId": uuid.uuid4().hex, "pendingUploadType": "TemporaryBlobReference"})

    router.add("POST", WS + r"/codes/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/startPendingUpload",
               guarded(pending_upload))

    # -- datastores ----------------------------------------------------------------------------------------------
    def datastore_record(name: str) -> dict[str, Any] | None:
        with lock:
            v1 = emulator.state.datastores.get(name)
        if v1 is None:
            return None
        section = v1["azureStorageSection"]
        return {"id": f"{scope(emulator)}/datastores/{name}", "name": name,
                "type": f"{PROVIDER}/workspaces/datastores", "systemData": system_data(),
                "properties": {"datastoreType": "AzureBlob", "accountName": section["accountName"],
                               "containerName": section["containerName"], "endpoint": section["endpoint"],
                               "protocol": section["protocol"], "isDefault": bool(v1.get("isDefault")),
                               "credentials": {"credentialsType": "AccountKey"}, "description": None,
                               "tags": {}, "properties": {}, "serviceDataAccessAuthIdentity": "None"}}

    def get_datastore(request: Request, name: str) -> Response:
        record = datastore_record(name)
        return json_response(record) if record else not_found("Datastore", name)

    def list_datastores(request: Request) -> Response:
        with lock:
            names = sorted(emulator.state.datastores)
        records = [datastore_record(n) for n in names]
        if request.query.get("isDefault") == "true":
            records = [r for r in records if r and r["properties"]["isDefault"]]
        return json_response({"value": records, "nextLink": None})

    def datastore_secrets(request: Request, name: str) -> Response:
        if datastore_record(name) is None:
            return not_found("Datastore", name)
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return json_response({"secretsType": "Sas",
                              "sasToken": f"sv=2021-08-06&sr=c&sp=racwdl&se={expiry}&sig=emulated"
                                          f"{uuid.uuid4().hex[:12]}"})

    router.add("GET", WS + r"/datastores", guarded(list_datastores))
    router.add("GET", WS + r"/datastores/(?P<name>[^/]+)", guarded(get_datastore))
    router.add("POST", WS + r"/datastores/(?P<name>[^/]+)/listSecrets", guarded(datastore_secrets))

    # -- computes ------------------------------------------------------------------------------------------------
    def list_computes(request: Request) -> Response:
        with lock:
            records = [_arm_compute(c) for _, c in sorted(emulator.state.computes.items())]
        return json_response({"value": records, "nextLink": None})

    def get_compute(request: Request, name: str) -> Response:
        with lock:
            record = emulator.state.computes.get(name)
        return json_response(_arm_compute(record)) if record else not_found("Compute", name)

    router.add("GET", WS + r"/computes", guarded(list_computes))
    router.add("GET", WS + r"/computes/(?P<name>[^/]+)", guarded(get_compute))

    # -- online endpoints ----------------------------------------------------------------------------------------
    def endpoint_uris(name: str, compute: str | None) -> tuple[str, str]:
        if compute:
            base = f"https://{kubernetes_scoring_host(emulator, compute)}/api/v1/endpoint/{name}"
        else:
            base = f"https://{online_scoring_host(emulator, name)}"
        return f"{base}/score", f"{base}/swagger.json"

    def busy(kind: str, target: tuple[str, ...]) -> bool:
        return any(op["status"] == "InProgress" and op["target"][:len(target)] == target and not op["hang"]
                   for op in state.operations.values() if op["kind"] == kind)

    def put_online_endpoint(request: Request, name: str) -> Response:
        body = body_of(request)
        if isinstance(body, Response):
            return body
        props = dict(body.get("properties") or {})
        compute = (props.get("compute") or "").rstrip("/").rsplit("/", 1)[-1]  # a name or an ARM id
        with lock:
            if compute and (emulator.state.computes.get(compute, {}).get("properties", {})
                            .get("computeType") != "Kubernetes"):
                return error_response(400, "BadArgument", f"Compute '{compute}' is not a Kubernetes compute.")
            existing = state.online_endpoints.get(name)
            if busy("online-endpoint", (name,)) or (existing and busy("online-deployment", (name,))):
                return error_response(409, "Conflict", "An operation is in progress on this endpoint.")
            traffic = {k: int(v) for k, v in (props.get("traffic") or {}).items()}
            for deployment, percent in traffic.items():
                if percent and (name, deployment) not in state.online_deployments:
                    return error_response(400, "BadArgument", f"Deployment '{deployment}' does not exist on "
                                          f"endpoint '{name}'; traffic cannot go to it.")
            if traffic and sum(traffic.values()) not in (0, 100):
                return error_response(400, "BadArgument", "Traffic must add up to 0 or 100.")
            scoring_uri, swagger_uri = endpoint_uris(name, compute)
            record = copy.deepcopy(existing) if existing else {
                "id": f"{scope(emulator)}/onlineEndpoints/{name}", "name": name,
                "type": f"{PROVIDER}/workspaces/onlineEndpoints", "location": emulator.region,
                "kind": "K8S" if compute else "Managed", "systemData": system_data(),
                "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid4()),
                             "tenantId": emulator.tenant_id},
            }
            record["tags"] = body.get("tags") or {}
            record["properties"] = {
                "authMode": props.get("authMode") or "Key", "description": props.get("description"),
                "properties": props.get("properties") or {}, "compute": props.get("compute") or None,
                "traffic": traffic,
                "mirrorTraffic": props.get("mirrorTraffic") or {}, "publicNetworkAccess": "Enabled",
                "scoringUri": scoring_uri, "swaggerUri": swagger_uri,
                "provisioningState": "Creating" if existing is None else "Updating",
            }
            state.online_endpoints[name] = record
            if name not in state.endpoint_keys:
                state.endpoint_keys[name] = {"primaryKey": secrets.token_urlsafe(24),
                                             "secondaryKey": secrets.token_urlsafe(24)}

        def done() -> None:
            record["properties"]["provisioningState"] = "Succeeded"

        def failed(message: str) -> None:
            record["properties"]["provisioningState"] = "Failed"

        headers = start_operation(request, "online-endpoint", (name,), on_success=done, on_failure=failed)
        return json_response(copy.deepcopy(record), 201 if existing is None else 200, headers)

    def get_online_endpoint(request: Request, name: str) -> Response:
        with lock:
            record = state.online_endpoints.get(name)
            return json_response(copy.deepcopy(record)) if record else not_found("Online endpoint", name)

    def list_online_endpoints(request: Request) -> Response:
        with lock:
            return json_response({"value": copy.deepcopy(list(state.online_endpoints.values())), "nextLink": None})

    def delete_online_endpoint(request: Request, name: str) -> Response:
        with lock:
            if name not in state.online_endpoints:
                return Response(204, b"", {})
            state.online_endpoints[name]["properties"]["provisioningState"] = "Deleting"

        def gone() -> None:
            state.online_endpoints.pop(name, None)
            state.endpoint_keys.pop(name, None)
            for key in [k for k in state.online_deployments if k[0] == name]:
                state.online_deployments.pop(key)

        return Response(202, b"", start_operation(request, "online-endpoint", (name,), on_success=gone))

    def list_keys(request: Request, name: str) -> Response:
        with lock:
            if name not in state.online_endpoints:
                return not_found("Online endpoint", name)
            return json_response(dict(state.endpoint_keys[name]))

    def get_token(request: Request, name: str) -> Response:
        with lock:
            if name not in state.online_endpoints:
                return not_found("Online endpoint", name)
            token = secrets.token_urlsafe(32)
            state.endpoint_keys[name].setdefault("tokens", "")
            state.endpoint_keys[name]["tokens"] += " " + token
        return json_response({"accessToken": token, "tokenType": "Bearer",
                              "expiryTimeUtc": int(time.time()) + 3600, "refreshAfterTimeUtc": int(time.time()) + 1800})

    router.add("GET", WS + r"/onlineEndpoints", guarded(list_online_endpoints))
    router.add("PUT", WS + r"/onlineEndpoints/(?P<name>[^/]+)", guarded(put_online_endpoint))
    router.add("GET", WS + r"/onlineEndpoints/(?P<name>[^/]+)", guarded(get_online_endpoint))
    router.add("DELETE", WS + r"/onlineEndpoints/(?P<name>[^/]+)", guarded(delete_online_endpoint))
    router.add("POST", WS + r"/onlineEndpoints/(?P<name>[^/]+)/listKeys", guarded(list_keys))
    router.add("POST", WS + r"/onlineEndpoints/(?P<name>[^/]+)/token", guarded(get_token))

    # -- online deployments --------------------------------------------------------------------------------------
    def put_online_deployment(request: Request, endpoint: str, name: str) -> Response:
        body = body_of(request)
        if isinstance(body, Response):
            return body
        props = dict(body.get("properties") or {})
        with lock:
            parent = state.online_endpoints.get(endpoint)
            if parent is None:
                return not_found("Online endpoint", endpoint)
            compute_type = props.get("endpointComputeType")
            wanted = "Kubernetes" if parent["properties"].get("compute") else "Managed"
            if compute_type != wanted:
                return error_response(400, "BadArgument", f"Endpoint '{endpoint}' takes {wanted} deployments, "
                                      f"not {compute_type}.")
            model = props.get("model") or ""
            if model and _asset_by_id(state, model) is None:
                return error_response(404, "UserError", f"Model '{model}' was not found.")
            if busy("online-deployment", (endpoint, name)):
                return error_response(409, "Conflict", "An operation is in progress on this deployment.")
            existing = state.online_deployments.get((endpoint, name))
            # What Azure fills in when the request leaves it out (the OnlineDeploymentProperties defaults).
            probe = {"initialDelay": "PT10S", "period": "PT10S", "timeout": "PT2S", "successThreshold": 1,
                     "failureThreshold": 30}
            props.setdefault("scaleSettings", {"scaleType": "Default"})
            props.setdefault("requestSettings", {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1,
                                                 "maxQueueWait": "PT0.5S"})
            props.setdefault("livenessProbe", dict(probe))
            props.setdefault("readinessProbe", {**probe, "failureThreshold": 3})
            props.setdefault("appInsightsEnabled", False)
            props.setdefault("egressPublicNetworkAccess", "Enabled")
            if compute_type == "Kubernetes":
                props.setdefault("containerResourceRequirements", {
                    "containerResourceRequests": {"cpu": "100m", "memory": "2Gi"},
                    "containerResourceLimits": {"cpu": "2", "memory": "2Gi"}})
            record = {
                "id": f"{scope(emulator)}/onlineEndpoints/{endpoint}/deployments/{name}", "name": name,
                "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments", "location": emulator.region,
                "kind": body.get("kind"), "tags": body.get("tags") or {}, "systemData": system_data(),
                "sku": body.get("sku") or {"name": "Default", "capacity": 1},
                "properties": {**props, "provisioningState": "Creating" if existing is None else "Updating"},
            }
            state.online_deployments[(endpoint, name)] = record

        def done() -> None:
            record["properties"]["provisioningState"] = "Succeeded"

        def failed(message: str) -> None:
            record["properties"]["provisioningState"] = "Failed"
            record["crash"] = message

        headers = start_operation(request, "online-deployment", (endpoint, name), on_success=done,
                                  on_failure=failed)
        return json_response(_public(record), 201 if existing is None else 200, headers)

    def get_online_deployment(request: Request, endpoint: str, name: str) -> Response:
        with lock:
            record = state.online_deployments.get((endpoint, name))
            return json_response(_public(record)) if record else not_found("Deployment", f"{endpoint}/{name}")

    def list_online_deployments(request: Request, endpoint: str) -> Response:
        with lock:
            found = [_public(r) for (e, _), r in sorted(state.online_deployments.items()) if e == endpoint]
        return json_response({"value": found, "nextLink": None})

    def delete_online_deployment(request: Request, endpoint: str, name: str) -> Response:
        with lock:
            if (endpoint, name) not in state.online_deployments:
                return Response(204, b"", {})
            traffic = (state.online_endpoints.get(endpoint) or {}).get("properties", {}).get("traffic") or {}
            if traffic.get(name):
                return error_response(400, "BadArgument", f"Deployment '{name}' still takes {traffic[name]} % of "
                                      "the traffic; move it first.")
            state.online_deployments[(endpoint, name)]["properties"]["provisioningState"] = "Deleting"

        def gone() -> None:
            state.online_deployments.pop((endpoint, name), None)

        return Response(202, b"", start_operation(request, "online-deployment", (endpoint, name), on_success=gone))

    def deployment_logs(request: Request, endpoint: str, name: str) -> Response:
        body = body_of(request)
        if isinstance(body, Response):
            return body
        with lock:
            record = state.online_deployments.get((endpoint, name))
            if record is None:
                return not_found("Deployment", f"{endpoint}/{name}")
            container = body.get("containerType") or "InferenceServer"
            lines = _container_log(record, container)
        tail = body.get("tail")
        if isinstance(tail, int) and tail > 0:
            lines = lines[-tail:]
        return json_response({"content": "\n".join(lines) + "\n"})

    dep = WS + r"/onlineEndpoints/(?P<endpoint>[^/]+)/deployments"
    router.add("GET", dep, guarded(list_online_deployments))
    router.add("PUT", dep + r"/(?P<name>[^/]+)", guarded(put_online_deployment))
    router.add("GET", dep + r"/(?P<name>[^/]+)", guarded(get_online_deployment))
    router.add("DELETE", dep + r"/(?P<name>[^/]+)", guarded(delete_online_deployment))
    router.add("POST", dep + r"/(?P<name>[^/]+)/getLogs", guarded(deployment_logs))

    # -- batch endpoints and deployments ------------------------------------------------------------------------
    def put_batch_endpoint(request: Request, name: str) -> Response:
        body = body_of(request)
        if isinstance(body, Response):
            return body
        props = dict(body.get("properties") or {})
        with lock:
            existing = state.batch_endpoints.get(name)
            record = copy.deepcopy(existing) if existing else {
                "id": f"{scope(emulator)}/batchEndpoints/{name}", "name": name,
                "type": f"{PROVIDER}/workspaces/batchEndpoints", "location": emulator.region,
                "systemData": system_data(), "identity": {"type": "SystemAssigned"},
            }
            record["tags"] = body.get("tags") or {}
            record["properties"] = {
                "authMode": props.get("authMode") or "AADToken", "description": props.get("description"),
                "properties": props.get("properties") or {}, "defaults": props.get("defaults") or {},
                "scoringUri": f"https://{online_scoring_host(emulator, name)}/jobs",
                "swaggerUri": f"https://{online_scoring_host(emulator, name)}/swagger.json",
                "provisioningState": "Succeeded",
            }
            state.batch_endpoints[name] = record
        headers = start_operation(request, "batch-endpoint", (name,))
        return json_response(copy.deepcopy(record), 201 if existing is None else 200, headers)

    def get_batch_endpoint(request: Request, name: str) -> Response:
        with lock:
            record = state.batch_endpoints.get(name)
            return json_response(copy.deepcopy(record)) if record else not_found("Batch endpoint", name)

    def list_batch_endpoints(request: Request) -> Response:
        with lock:
            return json_response({"value": copy.deepcopy(list(state.batch_endpoints.values())), "nextLink": None})

    def put_batch_deployment(request: Request, endpoint: str, name: str) -> Response:
        body = body_of(request)
        if isinstance(body, Response):
            return body
        props = dict(body.get("properties") or {})
        with lock:
            if endpoint not in state.batch_endpoints:
                return not_found("Batch endpoint", endpoint)
            config = props.get("deploymentConfiguration") or {}
            component = (config.get("componentId") or {}).get("assetId", "")
            if config and _asset_by_id(state, component) is None:
                return error_response(404, "UserError", f"Component '{component}' was not found.")
            existing = state.batch_deployments.get((endpoint, name))
            record = {
                "id": f"{scope(emulator)}/batchEndpoints/{endpoint}/deployments/{name}", "name": name,
                "type": f"{PROVIDER}/workspaces/batchEndpoints/deployments", "location": emulator.region,
                "tags": body.get("tags") or {}, "systemData": system_data(),
                "properties": {**props, "provisioningState": "Succeeded"},
            }
            state.batch_deployments[(endpoint, name)] = record
        headers = start_operation(request, "batch-deployment", (endpoint, name))
        return json_response(copy.deepcopy(record), 201 if existing is None else 200, headers)

    def get_batch_deployment(request: Request, endpoint: str, name: str) -> Response:
        with lock:
            record = state.batch_deployments.get((endpoint, name))
            return json_response(copy.deepcopy(record)) if record else not_found("Deployment", f"{endpoint}/{name}")

    def list_batch_deployments(request: Request, endpoint: str) -> Response:
        with lock:
            found = [copy.deepcopy(r) for (e, _), r in sorted(state.batch_deployments.items()) if e == endpoint]
        return json_response({"value": found, "nextLink": None})

    router.add("GET", WS + r"/batchEndpoints", guarded(list_batch_endpoints))
    router.add("PUT", WS + r"/batchEndpoints/(?P<name>[^/]+)", guarded(put_batch_endpoint))
    router.add("GET", WS + r"/batchEndpoints/(?P<name>[^/]+)", guarded(get_batch_endpoint))
    bdep = WS + r"/batchEndpoints/(?P<endpoint>[^/]+)/deployments"
    router.add("GET", bdep, guarded(list_batch_deployments))
    router.add("PUT", bdep + r"/(?P<name>[^/]+)", guarded(put_batch_deployment))
    router.add("GET", bdep + r"/(?P<name>[^/]+)", guarded(get_batch_deployment))

    # -- jobs ------------------------------------------------------------------------------------------------------
    def get_job(request: Request, name: str) -> Response:
        with lock:
            job = state.jobs.get(name)
            if job is None:
                return not_found("Job", name)
            advance_job(emulator, job)
            return json_response(public_job(job))

    def list_jobs(request: Request) -> Response:
        parent = request.query.get("parentJobName", "")
        with lock:
            found = [public_job(j) for j in state.jobs.values() if not parent or j.get("parent") == parent]
        return json_response({"value": found, "nextLink": None})

    def cancel_job(request: Request, name: str) -> Response:
        with lock:
            job = state.jobs.get(name)
            if job is None:
                return not_found("Job", name)
            if job["properties"]["status"] not in JOB_TERMINAL:
                job["properties"]["status"] = "Canceled"
                job["hang"] = False
        return Response(202, b"", start_operation(request, "job", (name,)))

    router.add("GET", WS + r"/jobs", guarded(list_jobs))
    router.add("GET", WS + r"/jobs/(?P<name>[^/]+)", guarded(get_job))
    router.add("POST", WS + r"/jobs/(?P<name>[^/]+)/cancel", guarded(cancel_job))

    arm_host = "management.azure.com"
    ops = r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/locations/(?P<region>[^/]+)"
    router.add("GET", ops + r"/mfeOperationsStatus/(?P<op_id>[^/]+)", operation_status)
    router.add("GET", ops + r"/mfeOperationResults/(?P<op_id>[^/]+)", operation_result)
    return router


# -- helpers shared with the scoring hosts -----------------------------------------------------------------------------
def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


def _asset_content(properties: dict[str, Any]) -> Any:
    return properties.get("modelUri") or properties.get("dataUri")


def _asset_by_id(state: V2State, asset_id: str) -> dict[str, Any] | None:
    """An asset version named by ARM id (…/models/n/versions/v) or short form (azureml:n:v)."""
    text = asset_id.removeprefix("azureml:")
    parts = text.strip("/").split("/")
    if "versions" in parts:
        i = parts.index("versions")
        kind, name, version = parts[i - 2], parts[i - 1], parts[i + 1]
        return state.assets.get(kind, {}).get(name, {}).get(version)
    return None


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in record.items() if k != "crash"}


def _container_log(record: dict[str, Any], container: str) -> list[str]:
    name = record["name"]
    model = record["properties"].get("model") or "no model"
    if container == "StorageInitializer":
        return [f"Downloading model {model.split('/models/')[-1]} to /var/azureml-app/azureml-models",
                "Model download complete."]
    lines = [f"Starting inference server for deployment {name}", "Initializing scoring server",
             "Loading the scoring script."]
    if record.get("crash"):
        lines += ["Traceback (most recent call last):", f"  {record['crash']}", "Worker exiting (pid: 42)"]
    else:
        lines += ["Scoring server is ready: listening on 0.0.0.0:31311"]
    return lines


def new_job(emulator: AzureEmulator, name: str, properties: dict[str, Any], *, fail: str | None = None,
            hang: bool = False, parent: str = "") -> dict[str, Any]:
    """A job the batch endpoint started; its status advances one state per `job_polls` reads."""
    state: V2State = emulator.v2
    base = f"https://ml.azure.com/runs/{name}?wsid={emulator.workspace_scope}"
    job = {
        "id": f"{emulator.workspace_scope}/jobs/{name}", "name": name,
        "type": f"{PROVIDER}/workspaces/jobs", "systemData": system_data(),
        "properties": {"status": "NotStarted", "services": {"Studio": {"jobServiceType": "Studio",
                                                                       "endpoint": base}}, **properties},
        "reads": 0, "fail": fail, "hang": hang, "parent": parent,
    }
    with emulator.lock:
        state.jobs[name] = job
    return job


_JOB_STEPS = ("NotStarted", "Running")


def advance_job(emulator: AzureEmulator, job: dict[str, Any]) -> None:
    state: V2State = emulator.v2
    props = job["properties"]
    if props["status"] in JOB_TERMINAL:
        return
    job["reads"] += 1
    if job["reads"] <= state.job_polls:
        return
    job["reads"] = 0
    if props["status"] == "NotStarted":
        props["status"] = "Running"
    elif not job["hang"]:
        props["status"] = "Failed" if job["fail"] else "Completed"
        steps = [child for child in state.jobs.values() if child.get("parent") == job["name"]]
        for i, child in enumerate(steps):  # a failed job: its last step failed, the ones before it completed
            last = i == len(steps) - 1
            child["properties"]["status"] = props["status"] if last else "Completed"


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in job.items() if k not in ("reads", "fail", "hang", "parent")}


def attach(emulator: AzureEmulator) -> V2State:
    """The emulator's v2 state, created before the routers that share it."""
    return V2State()


# azure-ai-ml validates an MLTable file against the JSON schema it downloads from Azure's schema CDN.
SCHEMA_HOST = "azuremlschemasprod.azureedge.net"


def build_schemas(emulator: AzureEmulator) -> Router:
    router = Router()

    def mltable_schema(request: Request) -> Response:
        return json_response({"$schema": "http://json-schema.org/draft-07/schema#", "title": "MLTable",
                              "type": "object", "properties": {"paths": {"type": "array"},
                                                               "transformations": {"type": "array"}},
                              "required": ["paths"]})

    router.add("GET", r"/latest/MLTable\.schema\.json", mltable_schema)
    return router
