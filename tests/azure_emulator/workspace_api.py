"""Fake workspace data plane, part one: discovery, computes, run history, artifacts, snapshots, datastores, datasets."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from .http import Request, Response, Router, error_response, json_response

if TYPE_CHECKING:
    from .emulator import AzureEmulator

WS = (r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
      r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


def sas_uri(emulator: AzureEmulator, container: str, path: str) -> str:
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    return (f"https://{emulator.blob_host}/{container}/{path}?sv=2019-07-07&sr=b&sp=rcw&se={expiry}"
            f"&sig=emulated{uuid.uuid4().hex[:8]}")


def seed(emulator: AzureEmulator) -> None:
    """Objects every real workspace starts with."""
    for name, container in (("workspaceblobstore", f"azureml-blobstore-{emulator.workspace_id}"),
                            ("workspaceartifactstore", "azureml")):
        emulator.state.datastores[name] = {
            "name": name, "dataStoreType": "AzureBlob", "hasBeenValidated": True, "tags": {},
            "isDefault": name == "workspaceblobstore",
            "azureStorageSection": {
                "accountName": emulator.storage_account, "containerName": container,
                "endpoint": "core.windows.net", "protocol": "https", "credentialType": "AccountKey",
                "credential": None, "isSas": False, "accountKey": None, "sasToken": None,
                "blobCacheTimeout": 0, "subscriptionId": emulator.subscription_id,
                "resourceGroup": emulator.resource_group,
            },
        }


def add_compute(emulator: AzureEmulator, name: str, compute_type: str, extra: dict[str, Any]) -> dict[str, Any]:
    scope = emulator.workspace_scope
    if compute_type == "AKS":
        inner: dict[str, Any] = {
            "agentVmSize": "Standard_D3_v2", "agentCount": 3, "clusterPurpose": "FastProd",
            "clusterFqdn": f"{name}-dns.hcp.{emulator.region}.azmk8s.io", "loadBalancerType": "PublicIp",
            "loadBalancerSubnet": None, "systemServices": [], "sslConfiguration": None,
        }
        resource_id = (f"/subscriptions/{emulator.subscription_id}/resourceGroups/{emulator.resource_group}"
                       f"/providers/Microsoft.ContainerService/managedClusters/{name}")
    else:
        inner = {
            "vmSize": "STANDARD_D2_V2", "vmPriority": "Dedicated",
            "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"},
            "subnet": None, "remoteLoginPortPublicAccess": "NotSpecified", "allocationState": "Steady",
            "currentNodeCount": 0, "targetNodeCount": 0, "errors": None,
            "nodeStateCounts": {"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
                                "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0},
        }
        resource_id = None
    inner.update(extra.pop("properties", {}))
    record = {
        "id": f"{scope}/computes/{name}", "name": name, "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "location": emulator.region, "tags": {},
        "properties": {
            "computeType": compute_type, "computeLocation": emulator.region, "description": None,
            "resourceId": resource_id, "provisioningState": "Succeeded", "provisioningErrors": None,
            "isAttachedCompute": compute_type == "AKS", "createdOn": now_iso(), "modifiedOn": now_iso(),
            "properties": inner,
        },
    }
    record.update(extra)
    with emulator.lock:
        emulator.state.computes[name] = record
    return record


RUN_STATUS_HISTORY = {"NotStarted": "NotStarted", "Running": "Running", "Finished": "Completed",
                      "Failed": "Failed", "Canceled": "Canceled"}


def run_status(emulator: AzureEmulator, run: dict[str, Any], *, advance: bool = True) -> str:
    """Pipelines-service status of a run; each read is one poll and moves the run forward."""
    with emulator.lock:
        reads = run["reads"]
        if advance:
            run["reads"] = reads + 1
        if run.get("status_override"):
            return run["status_override"]
        if reads == 0:
            return "NotStarted"
        if run.get("hang") or reads <= run["polls"]:
            return "Running"
        return run["outcome"]


def new_run(emulator: AzureEmulator, experiment: str, *, run_type: str = "azureml.PipelineRun",
            properties: dict[str, Any] | None = None, outcome: str = "Finished", error: str | None = None,
            graph_id: str | None = None) -> dict[str, Any]:
    with emulator.lock:
        exp = ensure_experiment(emulator, experiment)
        run_id = str(uuid.uuid4())
        run = {"runId": run_id, "experimentName": experiment, "experimentId": exp["experimentId"],
               "runType": run_type, "properties": properties or {}, "tags": {}, "createdUtc": now_iso(),
               "reads": 0, "polls": emulator.state.run_polls, "outcome": outcome, "error": error,
               "graphId": graph_id}
        emulator.state.runs[run_id] = run
        return run


def ensure_experiment(emulator: AzureEmulator, name: str) -> dict[str, Any]:
    with emulator.lock:
        exp = emulator.state.experiments.get(name)
        if exp is None:
            exp = {"experimentId": str(uuid.uuid4()), "name": name, "description": None, "createdUtc": now_iso(),
                   "tags": {}, "archivedTime": None, "latestCreatedRunCreatedUtc": None}
            emulator.state.experiments[name] = exp
        return exp


def history_run(emulator: AzureEmulator, run: dict[str, Any], *, advance: bool = True) -> dict[str, Any]:
    status = RUN_STATUS_HISTORY[run_status(emulator, run, advance=advance)]
    terminal = status in ("Completed", "Failed", "Canceled")
    error = None
    if status == "Failed":
        error = {"error": {"code": "UserError", "message": run.get("error") or "The pipeline run failed."}}
    return {
        "runNumber": 1, "rootRunId": run["runId"], "createdUtc": run["createdUtc"], "createdBy": None,
        "userId": None, "token": None, "tokenExpiryTimeUtc": None, "error": error, "warnings": None,
        "revision": run["reads"], "runUuid": run["runId"], "parentRunUuid": None, "rootRunUuid": run["runId"],
        "runId": run["runId"], "parentRunId": None, "experimentId": run["experimentId"], "status": status,
        "startTimeUtc": run["createdUtc"] if status != "NotStarted" else None,
        "endTimeUtc": now_iso() if terminal else None, "heartbeatEnabled": False, "options": {},
        "name": None, "dataContainerId": f"dcid.{run['runId']}", "description": None, "hidden": False,
        "runType": run["runType"], "properties": run["properties"], "scriptName": None, "target": None,
        "tags": run["tags"], "inputDatasets": [], "outputDatasets": [], "runDefinition": None,
        "createdFrom": None, "cancelUri": None, "completeUri": None, "diagnosticsUri": None,
        "computeRequest": None, "retainForLifetimeOfWorkspace": False, "queueingInfo": None,
    }


def step_history_run(emulator: AzureEmulator, run: dict[str, Any], step: dict[str, str]) -> dict[str, Any]:
    """A pipeline run's step as run history shows it: a child run of type azureml.StepRun with its node id."""
    child = history_run(emulator, run, advance=False)
    child.update({"runId": step["runId"], "runUuid": step["runId"], "parentRunId": run["runId"],
                  "parentRunUuid": run["runId"], "runType": "azureml.StepRun", "name": step["name"],
                  "displayName": step["name"], "properties": {},
                  "tags": {"azureml.nodeid": step["nodeId"], "azureml.pipeline": run["runId"]}})
    return child


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    state = emulator.state

    def guarded(handler):  # the data plane answers 401 without a token from the fake sign-in
        def wrapper(request: Request, **kwargs: str) -> Response:
            if not emulator.bearer_ok(request):
                return emulator.unauthorized()
            kwargs.pop("sub", None), kwargs.pop("rg", None), kwargs.pop("ws", None)
            return handler(request, **kwargs)
        return wrapper

    def discovery(request: Request) -> Response:
        base = f"https://{emulator.api_host}"
        return json_response({
            "api": base, "catalog": "https://catalog.cortanaanalytics.com", "experimentation": base,
            "gallery": "https://gallery.cortanaintelligence.com/project", "history": base, "hyperdrive": base,
            "labeling": base, "modelmanagement": base, "pipelines": base, "studio": "https://ml.azure.com",
        })

    def list_computes(request: Request) -> Response:
        with emulator.lock:
            return json_response({"value": list(state.computes.values())})

    def get_compute(request: Request, name: str) -> Response:
        with emulator.lock:
            compute = state.computes.get(name)
        if compute is None:
            return error_response(404, "ResourceNotFound", f"Compute '{name}' was not found in the workspace.")
        return json_response(compute)

    def get_workspace_dp(request: Request) -> Response:
        from .arm import workspace_resource
        return json_response(workspace_resource(emulator))

    def batch_artifacts(request: Request, origin: str, container: str) -> Response:
        paths = [item["path"] for item in (request.json() or {}).get("paths", [])]
        artifacts, content = {}, {}
        with emulator.lock:
            for path in paths:
                artifact_id = f"{origin}/{container}/{path}"
                blob_path = f"{origin}/{container}/{path}"
                artifacts[path] = {"artifactId": artifact_id, "origin": origin, "container": container,
                                   "path": path, "etag": uuid.uuid4().hex, "createdTime": now_iso(),
                                   "dataPath": None}
                state.artifacts[artifact_id] = {"blob": ("azureml", blob_path), **artifacts[path]}
                content[path] = {"contentUri": sas_uri(emulator, "azureml", blob_path), "origin": origin,
                                 "container": container, "path": path}
        return json_response({"artifacts": artifacts, "artifactContentInformation": content, "errors": {}})

    def list_artifacts(request: Request, origin: str, container: str, path: str | None = None) -> Response:
        prefix = f"{origin}/{container}/" + (f"{path}" if path else "")
        with emulator.lock:
            found = [a for key, a in state.artifacts.items() if key.startswith(prefix)]
        return json_response({"value": [{k: v for k, v in a.items() if k != "blob"} for a in found],
                              "continuationToken": None, "nextLink": None})

    def content_info(request: Request, origin: str, container: str, path: str) -> Response:
        return json_response({"contentUri": sas_uri(emulator, "azureml", f"{origin}/{container}/{path}"),
                              "origin": origin, "container": container, "path": path})

    def prefix_content_info(request: Request, origin: str, container: str, path: str) -> Response:
        # Model.download asks for a SAS per file under the asset's prefix.
        prefix = f"{origin}/{container}/{path}"
        with emulator.lock:
            found = [a for key, a in state.artifacts.items() if key.startswith(prefix)]
        return json_response({"value": [{"contentUri": sas_uri(emulator, *a["blob"]), "origin": a["origin"],
                                         "container": a["container"], "path": a["path"]} for a in found],
                              "continuationToken": None, "nextLink": None})

    def get_experiment(request: Request, name: str) -> Response:
        with emulator.lock:
            exp = state.experiments.get(name)
        if exp is None:
            return error_response(404, "ExperimentNotFound", f"Experiment '{name}' was not found.")
        return json_response(exp)

    def create_experiment(request: Request, name: str) -> Response:
        return json_response(ensure_experiment(emulator, name))

    def get_run(request: Request, run_id: str, exp: str | None = None) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
            parent, step = next(((r, s) for r in state.runs.values() for s in r.get("steps") or []
                                 if s["runId"] == run_id), (None, None))
        if run is None and parent is not None and step is not None:
            return json_response(step_history_run(emulator, parent, step))
        if run is None:
            return error_response(404, "RunNotFound", f"Run '{run_id}' was not found.")
        return json_response(history_run(emulator, run))

    def run_details(request: Request, run_id: str, exp: str | None = None) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
        if run is None:
            return error_response(404, "RunNotFound", f"Run '{run_id}' was not found.")
        dto = history_run(emulator, run)
        dto.update({"logFiles": {}, "runDefinition": {}, "inputDatasets": [], "outputDatasets": []})
        return json_response(dto)

    def patch_run(request: Request, run_id: str, exp: str | None = None) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
            if run is None:
                return error_response(404, "RunNotFound", f"Run '{run_id}' was not found.")
            body = request.json() or {}
            run["tags"].update(body.get("tags") or {})
            run["properties"].update(body.get("properties") or {})
        return json_response(history_run(emulator, run, advance=False))

    def list_children(request: Request, run_id: str, exp: str | None = None) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
        children = [step_history_run(emulator, run, step) for step in (run or {}).get("steps") or []]
        return json_response({"value": children, "continuationToken": None, "nextLink": None})

    def snapshot_latest(request: Request) -> Response:
        # The SDK diffs against the latest snapshot and uploads only what changed.
        with emulator.lock:
            latest = list(state.snapshots.values())[-1] if state.snapshots else None
        if latest is None:
            return json_response({"id": None, "root": {}})
        return json_response({"id": latest["id"], "root": latest["root"]})

    def snapshot_getblob(request: Request) -> Response:
        names = (request.json() or {}).get("FileNames") or []
        prefix = f"snapshots/{uuid.uuid4().hex[:8]}"
        return json_response({"fileNodes": [{"fullName": name, "blobUri": sas_uri(emulator, "snapshots",
                                                                                 f"{prefix}/{name}")}
                                            for name in names]})

    def snapshot_create(request: Request, snapshot_id: str) -> Response:
        body = request.json() or {}
        files = (body.get("FileRevisionList") or {}).get("FileNodes") or []
        with emulator.lock:
            state.snapshots[snapshot_id] = {"id": snapshot_id, "root": body.get("DirTreeNode") or {},
                                            "files": [f.get("FullName") for f in files],
                                            "parent": body.get("ParentSnapshotId")}
        return json_response({"id": snapshot_id, "root": body.get("DirTreeNode") or {}}, 201)

    def get_datastore(request: Request, name: str) -> Response:
        with emulator.lock:
            store = state.datastores.get(name)
        if store is None:
            return error_response(404, "DataStoreNotFound", f"Datastore '{name}' was not found.")
        return json_response(store)

    def default_datastore(request: Request) -> Response:
        with emulator.lock:
            store = next(s for s in state.datastores.values() if s.get("isDefault"))
        return json_response(store)

    def list_datastores(request: Request) -> Response:
        with emulator.lock:
            return json_response({"value": list(state.datastores.values()), "continuationToken": None})

    def register_dataset(request: Request) -> Response:
        body = request.json() or {}
        name = body.get("name")
        with emulator.lock:
            versions = state.datasets.setdefault(name, [])
            definition = body.get("latest") or {}
            fingerprint = hashlib.sha256(repr(definition.get("dataflow")).encode()).hexdigest()
            if versions and versions[-1]["_fingerprint"] == fingerprint:
                # The service keeps the version when the definition is unchanged.
                return json_response(_public(versions[-1]))
            dataset_id = versions[0]["datasetId"] if versions else str(uuid.uuid4())
            version = len(versions) + 1
            record = dict(body)
            record.update({"datasetId": dataset_id, "_fingerprint": fingerprint, "isVisible": True,
                           "etag": uuid.uuid4().hex, "createdTime": now_iso(), "modifiedTime": now_iso()})
            latest = dict(definition)
            latest.update({"datasetId": dataset_id, "versionId": str(version), "definitionVersion": str(version),
                           "createdTime": now_iso(), "modifiedTime": now_iso(), "etag": record["etag"]})
            record["latest"] = latest
            versions.append(record)
        return json_response(_public(record))

    def dataset_by_name(request: Request, name: str) -> Response:
        with emulator.lock:
            versions = state.datasets.get(name)
        if not versions:
            return error_response(404, "UserError", f"Cannot find dataset registered with name '{name}'.")
        wanted = request.query.get("versionId")
        record = versions[int(wanted) - 1] if wanted and wanted != "latest" else versions[-1]
        return json_response(_public(record))

    router.add("GET", r"/discovery", discovery)
    rp = rf"/rp/workspaces{WS}"
    router.add("GET", rp, guarded(get_workspace_dp))
    router.add("GET", rp + r"/computes", guarded(list_computes))
    router.add("GET", rp + r"/computes/(?P<name>[^/]+)", guarded(get_compute))
    art = rf"/artifact/v2\.0{WS}/artifacts"
    router.add("POST", art + r"/batch/metadata/(?P<origin>[^/]+)/(?P<container>[^/]+)", guarded(batch_artifacts))
    router.add("GET", art + r"/contentinfo/(?P<origin>[^/]+)/(?P<container>[^/]+)/(?P<path>.+)",
               guarded(content_info))
    router.add("GET", art + r"/prefix/contentinfo/(?P<origin>[^/]+)/(?P<container>[^/]+)/(?P<path>.+)",
               guarded(prefix_content_info))
    router.add("GET", art + r"/(?P<origin>[^/]+)/(?P<container>[^/]+)(?:/(?P<path>.+))?", guarded(list_artifacts))
    hist = rf"/history/v1\.0{WS}"
    router.add("GET", hist + r"/experiments/(?P<name>[^/]+)", guarded(get_experiment))
    router.add("POST", hist + r"/experiments/(?P<name>[^/]+)", guarded(create_experiment))
    for runs in (r"/experiments/(?P<exp>[^/]+)/runs/(?P<run_id>[^/]+)",
                 r"/experimentids/(?P<exp>[^/]+)/runs/(?P<run_id>[^/]+)"):
        router.add("GET", hist + runs, guarded(get_run))
        router.add("GET", hist + runs + r"/details", guarded(run_details))
        router.add("PATCH", hist + runs, guarded(patch_run))
        router.add("GET", hist + runs + r"/children", guarded(list_children))
    router.add("GET", hist + r"/runs/(?P<run_id>[^/]+)", guarded(get_run))
    content = rf"/content/v[12]\.0{WS}/snapshots"
    router.add("GET", content + r"/latest/metadata", guarded(snapshot_latest))
    router.add("POST", content + r"/getblob", guarded(snapshot_getblob))
    router.add("POST", content + r"/(?P<snapshot_id>[^/]+)", guarded(snapshot_create))
    store = rf"/datastore/v1\.0{WS}"
    router.add("GET", store + r"/default", guarded(default_datastore))
    router.add("GET", store + r"/datastores", guarded(list_datastores))
    router.add("GET", store + r"/datastores/(?P<name>[^/]+)", guarded(get_datastore))
    dataset = rf"/dataset/v1\.0{WS}/datasets"
    router.add("POST", dataset, guarded(register_dataset))
    router.add("GET", dataset + r"/query/name=(?P<name>[^/]+)", guarded(dataset_by_name))
    return router


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}
