"""Run history as azure-ai-ml reads it for a pipeline job's steps: child runs and their log files (SAS blob URLs).

`jobs.list(parent_job_name=…)` asks GET /history/v1.0{WS}/runs/{id}/children; a step's logs are the `logFiles` of
GET /history/v1.0{WS}/runs/{id}/details, each a SAS URL on the workspace's blob storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.azure_emulator.http import Request, Response, Router, error_response, json_response
from tests.azure_emulator.workspace_api import now_iso, sas_uri

if TYPE_CHECKING:
    from tests.azure_emulator.emulator import AzureEmulator

WS = (r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices"
      r"/workspaces/(?P<ws>[^/]+)")
LOGS_CONTAINER = "azureml"
STD_LOG = "user_logs/std_log.txt"


def step_log(job: dict[str, Any], parent: dict[str, Any] | None) -> str:
    """What a step printed: its start and, when it failed, the parent job's scripted failure message."""
    props = job["properties"]
    name = props.get("displayName") or job["name"]
    lines = [f"[{now_iso()}] Starting step {name} ({props.get('command') or 'python'})"]
    if props["status"] == "Failed":
        message = (parent or {}).get("fail") or "The step failed."
        lines += ["Traceback (most recent call last):", f'  File "{name}.py", line 1, in <module>',
                  f"RuntimeError: {message}", f"Step {name} failed with exit code 1"]
    elif props["status"] == "Completed":
        lines += [f"Step {name} finished with exit code 0"]
    return "\n".join(lines) + "\n"


def history_run(emulator: AzureEmulator, job: dict[str, Any]) -> dict[str, Any]:
    props = job["properties"]
    return {
        "runId": job["name"], "runUuid": job["name"], "parentRunId": job.get("parent") or None,
        "rootRunId": job.get("parent") or job["name"], "displayName": props.get("displayName"),
        "experimentId": props.get("experimentName"), "status": props["status"], "createdUtc": now_iso(),
        "startTimeUtc": now_iso(), "endTimeUtc": now_iso() if props["status"] in ("Completed", "Failed") else None,
        "runType": "azureml.StepRun", "properties": dict(props.get("properties") or {}), "tags": {},
        "services": {}, "description": None, "hidden": False, "name": None,
        "dataContainerId": f"dcid.{job['name']}", "compute": None,
    }


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    state = emulator.v2
    blobs = emulator.state.blobs

    def guarded(handler):  # the data plane answers 401 without a token from the fake sign-in
        def wrapper(request: Request, **kwargs: str) -> Response:
            if not emulator.bearer_ok(request):
                return emulator.unauthorized()
            return handler(request, **kwargs)
        return wrapper

    def children(request: Request, run_id: str, **_: str) -> Response:
        with emulator.lock:
            if run_id not in state.jobs:
                return error_response(404, "RunNotFound", f"Run '{run_id}' was not found.")
            found = [history_run(emulator, j) for j in state.jobs.values() if j.get("parent") == run_id]
        return json_response({"value": found, "continuationToken": None, "nextLink": None})

    def details(request: Request, run_id: str, **_: str) -> Response:
        with emulator.lock:
            job = state.jobs.get(run_id)
            if job is None:
                return error_response(404, "RunNotFound", f"Run '{run_id}' was not found.")
            path = f"ExperimentRun/dcid.{run_id}/{STD_LOG}"
            data = step_log(job, state.jobs.get(job.get("parent") or "")).encode()
            blobs[(LOGS_CONTAINER, path)] = {"data": data, "etag": '"0x1"', "md5": "", "metadata": {},
                                             "content_type": "text/plain", "last_modified": now_iso()}
            dto = history_run(emulator, job)
        dto.update({"logFiles": {STD_LOG: sas_uri(emulator, LOGS_CONTAINER, path)}, "runDefinition": {},
                    "inputDatasets": [], "outputDatasets": []})
        return json_response(dto)

    hist = rf"/history/v1\.0{WS}/runs/(?P<run_id>[^/]+)"
    router.add("GET", hist + r"/children", guarded(children))
    router.add("GET", hist + r"/details", guarded(details))
    return router
