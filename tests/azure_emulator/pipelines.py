"""Fake pipelines service: data types, modules, data sources, graphs, published pipelines, runs and endpoints."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from .http import Request, Response, Router, error_response, json_response
from .workspace_api import WS, new_run, now_iso, run_status

if TYPE_CHECKING:
    from .emulator import AzureEmulator

_FILE_TYPES = ["AnyFile", "AzureBlobReference", "AzureDataLakeReference", "AzureFilesReference",
               "AzureSqlDatabaseReference", "AzurePostgresDatabaseReference", "AzureDataLakeGen2Reference",
               "AzureMLDataset", "AzureMySqlDatabaseReference", "DBFSReference"]


def _entity(entity_id: str, **fields: Any) -> dict[str, Any]:
    fields.update({"Id": entity_id, "Etag": uuid.uuid4().hex, "CreatedDate": now_iso(),
                   "LastModifiedDate": now_iso(), "EntityStatus": fields.get("EntityStatus", "Active")})
    return fields


def _interface(structured: dict[str, Any]) -> dict[str, Any]:
    """The module's port and parameter interface, derived from the structured interface it was created with."""
    def params(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return [{"Name": p.get("Name"), "DefaultValue": p.get("DefaultValue"), "IsOptional": p.get("IsOptional"),
                 "Type": p.get("ParameterType"), "Documentation": p.get("Description")} for p in items or []]
    return {
        "Parameters": params(structured.get("Parameters")),
        "MetadataParameters": params(structured.get("MetadataParameters")),
        "Ports": {"Inputs": [{"Name": i.get("Name"), "DataTypesIds": i.get("DataTypeIdsList") or [],
                              "IsOptional": i.get("IsOptional")} for i in structured.get("Inputs") or []],
                  "Outputs": [{"Name": o.get("Name"), "DataTypeId": o.get("DataTypeId")}
                              for o in structured.get("Outputs") or []],
                  "ControlOutputs": []},
        "DataPathParameters": [], "DataPathParameterList": [],
    }


def create_graph(emulator: AzureEmulator, graph: dict[str, Any] | None,
                 interface: dict[str, Any] | None = None) -> str:
    graph_id = str(uuid.uuid4())
    body = copy.deepcopy(graph) if graph else {"ModuleNodes": [], "DatasetNodes": [], "Edges": []}
    body.update({"Id": graph_id, "Etag": uuid.uuid4().hex, "CreatedDate": now_iso(), "LastModifiedDate": now_iso(),
                 "EntityStatus": "Active"})
    with emulator.lock:
        empty = {"Parameters": [], "DataPathParameters": [], "DataPathParameterList": [],
                 "AssetOutputSettingsParameterList": []}
        emulator.state.graphs[graph_id] = {"graph": body, "interface": interface or empty}
    return graph_id


def seed_pipeline_run(emulator: AzureEmulator, experiment: str = "training") -> str:
    """A finished pipeline run, as if a training pipeline had run earlier; returns its id."""
    graph_id = create_graph(emulator, None)
    run = new_run(emulator, experiment, graph_id=graph_id)
    run["reads"] = run["polls"] + 1
    return run["runId"]


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    state = emulator.state
    base = rf"/pipelines/v1\.0{WS}"

    def guarded(handler):
        def wrapper(request: Request, **kwargs: str) -> Response:
            if not emulator.bearer_ok(request):
                return error_response(401, "Unauthorized", "The bearer token is missing or invalid.",
                                      envelope="pipelines")
            for key in ("sub", "rg", "ws"):
                kwargs.pop(key, None)
            return handler(request, **kwargs)
        return wrapper

    def missing(kind: str, key: str) -> Response:
        return error_response(404, "NotFound", f"{kind} {key} was not found.", envelope="pipelines")

    def url_base() -> str:
        return f"https://{emulator.api_host}/pipelines/v1.0{emulator.workspace_scope}"

    # -- data types, modules, data sources, graphs -----------------------------------------------------------
    def data_types(request: Request) -> Response:
        types = [_entity(t, Name=t, Description=t, IsDirectory=False, ParentDataTypeIds=[]) for t in _FILE_TYPES]
        types.append(_entity("AnyDirectory", Name="AnyDirectory", Description="AnyDirectory", IsDirectory=True,
                             ParentDataTypeIds=[]))
        return json_response(types)

    def create_data_type(request: Request) -> Response:
        body = request.json() or {}
        return json_response(_entity(body.get("Id", "Custom"), Name=body.get("Name"),
                                     Description=body.get("Description"), IsDirectory=bool(body.get("IsDirectory")),
                                     ParentDataTypeIds=body.get("ParentDataTypeIds") or []))

    def module_by_hash(request: Request, digest: str) -> Response:
        with emulator.lock:
            module = next((m for m in state.modules.values() if m["Data"].get("IdentifierHash") == digest), None)
        return json_response(module) if module else missing("Module with hash", digest)

    def create_module(request: Request) -> Response:
        body = request.json() or {}
        module_id = str(uuid.uuid4())
        data = _entity(module_id, **{k: body.get(k) for k in (
            "Name", "Description", "IsDeterministic", "ModuleExecutionType", "ModuleType", "IdentifierHash",
            "StructuredInterface", "Runconfig", "Category", "StepType")})
        data.update({"UploadState": "Completed", "tags": body.get("KvTags") or {},
                     "Properties": body.get("Properties") or {}, "Hash": body.get("Hash"),
                     "DataLocation": {"StorageType": "Snapshot", "StorageId": body.get("StorageId")}})
        with emulator.lock:
            state.modules[module_id] = {"Data": data, "Interface": _interface(body.get("StructuredInterface") or {})}
        return json_response(data)

    def get_module(request: Request, module_id: str) -> Response:
        with emulator.lock:
            module = state.modules.get(module_id)
        return json_response(module) if module else missing("Module", module_id)

    def datasource_by_hash(request: Request, digest: str) -> Response:
        with emulator.lock:
            source = next((d for d in state.datasources.values() if d.get("IdentifierHash") == digest), None)
        return json_response(source) if source else missing("DataSource with hash", digest)

    def create_datasource(request: Request) -> Response:
        body = request.json() or {}
        source = _entity(str(uuid.uuid4()), **body)
        source["UploadState"] = "Completed"
        with emulator.lock:
            state.datasources[source["Id"]] = source
        return json_response(source)

    def get_datasource(request: Request, source_id: str) -> Response:
        with emulator.lock:
            source = state.datasources.get(source_id)
        return json_response(source) if source else missing("DataSource", source_id)

    def get_graph(request: Request, graph_id: str) -> Response:
        with emulator.lock:
            graph = state.graphs.get(graph_id)
        return json_response(graph["graph"]) if graph else missing("Graph", graph_id)

    def get_graph_interface(request: Request, graph_id: str) -> Response:
        with emulator.lock:
            graph = state.graphs.get(graph_id)
        return json_response(graph["interface"]) if graph else missing("Graph", graph_id)

    # -- published pipelines --------------------------------------------------------------------------------
    def pipeline_entity(pipeline: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in pipeline.items() if not k.startswith("_")}

    def create_pipeline(request: Request) -> Response:
        body = request.json() or {}
        if not body.get("Name"):
            return error_response(400, "BadRequest", "A published pipeline needs a Name.", envelope="pipelines")
        graph_id = create_graph(emulator, body.get("Graph"), body.get("GraphInterface"))
        pipeline_id = str(uuid.uuid4())
        pipeline = _entity(pipeline_id, Name=body["Name"], Description=body.get("Description"),
                           Version=body.get("Version"), GraphId=graph_id,
                           TotalRunSteps=len((body.get("Graph") or {}).get("ModuleNodes") or []),
                           ParameterAssignments={}, DataSetDefinitionValueAssignments=
                           body.get("DataSetDefinitionValueAssignments") or {},
                           Url=f"{url_base()}/PipelineRuns/PipelineSubmit/{pipeline_id}",
                           ContinueRunOnStepFailure=bool(body.get("ContinueRunOnStepFailure")),
                           Properties=body.get("Properties") or {},
                           EnableNotification=bool(body.get("EnableEmailNotification")))
        with emulator.lock:
            state.pipelines[pipeline_id] = pipeline
        return json_response(pipeline_entity(pipeline))

    def get_pipeline(request: Request, pipeline_id: str) -> Response:
        with emulator.lock:
            pipeline = state.pipelines.get(pipeline_id)
        return json_response(pipeline_entity(pipeline)) if pipeline else missing("Pipeline", pipeline_id)

    def list_pipelines(request: Request) -> Response:
        with emulator.lock:
            # A plain list: the SDK deserializes this route as [PipelineEntity].
            return json_response([pipeline_entity(p) for p in state.pipelines.values()])

    # -- runs -----------------------------------------------------------------------------------------------
    def run_entity(run: dict[str, Any], *, advance: bool = True) -> dict[str, Any]:
        status = run_status(emulator, run, advance=advance)
        terminal = status in ("Finished", "Failed", "Canceled")
        return {
            "Id": run["runId"], "Description": run.get("description"), "GraphId": run.get("graphId"),
            "Status": {"StatusCode": status, "StatusDetail": run.get("error") if status == "Failed" else None,
                       "CreationTime": run["createdUtc"], "EndTime": now_iso() if terminal else None},
            "IsSubmitted": True, "HasErrors": status == "Failed", "HasWarnings": False,
            "UploadState": "Completed", "ParameterAssignments": run.get("parameters") or {},
            "DataSetDefinitionValueAssignments": {}, "RunHistoryExperimentName": run["experimentName"],
            "PipelineId": run.get("pipelineId"), "RunSource": "SDK", "RunType": "SDK",
            "TotalRunSteps": 1, "ScheduleId": None, "tags": run["tags"], "Properties": run["properties"],
            "EntityStatus": "Active", "Etag": uuid.uuid4().hex, "CreatedDate": run["createdUtc"],
            "LastModifiedDate": now_iso(),
        }

    def submit(request: Request, pipeline: dict[str, Any]) -> Response:
        body = request.json() or {}
        experiment = body.get("ExperimentName")
        if not experiment:
            return error_response(400, "BadRequest", "ExperimentName is required.", envelope="pipelines")
        fault = request.fault
        failed = fault is not None and fault.kind == "run_failed"
        run = new_run(emulator, experiment, graph_id=pipeline["GraphId"], outcome="Failed" if failed else "Finished",
                      error=fault.options.get("message", "Step train failed: exit code 1") if failed else None,
                      properties={"azureml.pipelineid": pipeline["Id"], "azureml.runsource": "azureml.PipelineRun"})
        with emulator.lock:
            # One step per run, "train", as the run history lists it among the run's children.
            run["steps"] = [{"name": "train", "nodeId": "train", "runId": f"{run['runId']}_train"}]
            run["pipelineId"] = pipeline["Id"]
            run["parameters"] = body.get("ParameterAssignments") or {}
            run["description"] = body.get("Description")
            state.pipeline_runs[run["runId"]] = run
        return json_response(run_entity(run, advance=False))

    def submit_pipeline(request: Request, pipeline_id: str) -> Response:
        with emulator.lock:
            pipeline = state.pipelines.get(pipeline_id)
        if pipeline is None:
            return missing("Pipeline", pipeline_id)
        if pipeline.get("EntityStatus") != "Active":
            return error_response(400, "BadRequest", f"Pipeline {pipeline_id} is disabled.", envelope="pipelines")
        return submit(request, pipeline)

    def get_pipeline_run(request: Request, run_id: str) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
        return json_response(run_entity(run)) if run else missing("PipelineRun", run_id)

    def node_statuses(request: Request, run_id: str) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
        if run is None:
            return missing("PipelineRun", run_id)
        status = run_status(emulator, run, advance=False)
        return json_response({"train": {"StatusCode": status, "StatusDetail": run.get("error"),
                                        "CreationTime": run["createdUtc"], "RunId": f"{run_id}_train"}})

    def node_status(request: Request, run_id: str) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
        if run is None:
            return missing("PipelineRun", run_id)
        return json_response(run_status(emulator, run, advance=False))

    def shareable_log(request: Request, run_id: str, kind: str) -> Response:
        # The SDK posts the node id path ([node_id]) and reads the body as text.
        with emulator.lock:
            run = state.runs.get(run_id)
        if run is None:
            return missing("PipelineRun", run_id)
        failed = run.get("outcome") == "Failed"
        text = {"STDOUT": "training step started\n" + ("Traceback (most recent call last):\n  File \"train.py\"\n"
                                                       if failed else "training step done\n"),
                "STDERR": (run.get("error") or "") + "\n", "JOBLOG": "job log\n"}[kind.upper()]
        return Response(200, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"})

    def cancel_run(request: Request, run_id: str) -> Response:
        with emulator.lock:
            run = state.runs.get(run_id)
            if run is None:
                return missing("PipelineRun", run_id)
            if run_status(emulator, run, advance=False) not in ("Finished", "Failed", "Canceled"):
                run["status_override"] = "Canceled"
        return Response(200, b"", {})

    # -- endpoints ------------------------------------------------------------------------------------------
    def endpoint_entity(endpoint: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(endpoint)

    def create_endpoint(request: Request) -> Response:
        body = request.json() or {}
        name = body.get("Name")
        with emulator.lock:
            if any(e["Name"] == name for e in state.pipeline_endpoints.values()):
                return error_response(409, "Conflict", f"A pipeline endpoint named {name} exists.",
                                      envelope="pipelines")
            endpoint_id = str(uuid.uuid4())
            endpoint = {
                "Name": name, "DefaultVersion": "0", "Description": body.get("Description"),
                "PipelineVersionList": [{"Version": "0", "PipelineId": body.get("PipelineId")}],
                "Url": f"{url_base()}/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint_id}",
                "Id": endpoint_id, "Etag": uuid.uuid4().hex, "CreatedDate": now_iso(),
                "LastModifiedDate": now_iso(), "EntityStatus": "Active", "Properties": body.get("Properties") or {},
                "SwaggerUrl": f"{url_base()}/PipelineEndpoints/{endpoint_id}/swagger", "tags": body.get("tags") or {},
            }
            state.pipeline_endpoints[endpoint_id] = endpoint
        return json_response(endpoint_entity(endpoint))

    def endpoint_by_name(request: Request) -> Response:
        name = request.query.get("Name") or request.query.get("name")
        with emulator.lock:
            endpoint = next((e for e in state.pipeline_endpoints.values() if e["Name"] == name), None)
        return json_response(endpoint_entity(endpoint)) if endpoint else missing("PipelineEndpoint", str(name))

    def endpoint_by_id(request: Request, endpoint_id: str) -> Response:
        with emulator.lock:
            endpoint = state.pipeline_endpoints.get(endpoint_id)
        return json_response(endpoint_entity(endpoint)) if endpoint else missing("PipelineEndpoint", endpoint_id)

    def update_endpoint(request: Request, endpoint_id: str) -> Response:
        body = request.json() or {}
        with emulator.lock:
            endpoint = state.pipeline_endpoints.get(endpoint_id)
            if endpoint is None:
                return missing("PipelineEndpoint", endpoint_id)
            for key in ("Name", "DefaultVersion", "Description", "PipelineVersionList", "EntityStatus",
                        "Properties", "tags"):
                if body.get(key) is not None:
                    endpoint[key] = body[key]
            endpoint["Etag"] = uuid.uuid4().hex
            endpoint["LastModifiedDate"] = now_iso()
        return json_response(endpoint_entity(endpoint))

    def endpoint_pipelines(request: Request, endpoint_id: str) -> Response:
        with emulator.lock:
            endpoint = state.pipeline_endpoints.get(endpoint_id)
            if endpoint is None:
                return missing("PipelineEndpoint", endpoint_id)
            found = [pipeline_entity(state.pipelines[v["PipelineId"]]) for v in endpoint["PipelineVersionList"]
                     if v["PipelineId"] in state.pipelines]
        return json_response({"Value": found, "ContinuationToken": None})

    def submit_endpoint(request: Request, endpoint_id: str) -> Response:
        with emulator.lock:
            endpoint = state.pipeline_endpoints.get(endpoint_id)
            if endpoint is None:
                return missing("PipelineEndpoint", endpoint_id)
            version = request.query.get("pipelineVersion") or endpoint["DefaultVersion"]
            pipeline_id = next((v["PipelineId"] for v in endpoint["PipelineVersionList"] if v["Version"] == version),
                               None)
            pipeline = state.pipelines.get(pipeline_id or "")
        if pipeline is None:
            return missing("Pipeline version", version)
        return submit(request, pipeline)

    router.add("GET", base + r"/DataTypes", guarded(data_types))
    router.add("POST", base + r"/DataTypes", guarded(create_data_type))
    router.add("GET", base + r"/Modules/Hash/(?P<digest>[^/]+)", guarded(module_by_hash))
    router.add("POST", base + r"/Modules", guarded(create_module))
    router.add("GET", base + r"/Modules/(?P<module_id>[^/]+)", guarded(get_module))
    router.add("GET", base + r"/DataSources/Hash/(?P<digest>[^/]+)", guarded(datasource_by_hash))
    router.add("POST", base + r"/DataSources", guarded(create_datasource))
    router.add("GET", base + r"/DataSources/(?P<source_id>[^/]+)", guarded(get_datasource))
    router.add("GET", base + r"/Graphs/(?P<graph_id>[^/]+)", guarded(get_graph))
    router.add("GET", base + r"/Graphs/(?P<graph_id>[^/]+)/Interface", guarded(get_graph_interface))
    router.add("POST", base + r"/Pipelines/Create", guarded(create_pipeline))
    router.add("GET", base + r"/Pipelines", guarded(list_pipelines))
    router.add("GET", base + r"/Pipelines/(?P<pipeline_id>[^/]+)", guarded(get_pipeline))
    router.add("POST", base + r"/PipelineRuns/PipelineSubmit/(?P<pipeline_id>[^/]+)", guarded(submit_pipeline))
    router.add("POST", base + r"/PipelineRuns/PipelineEndpointSubmit/Id/(?P<endpoint_id>[^/]+)",
               guarded(submit_endpoint))
    router.add("GET", base + r"/PipelineRuns/(?P<run_id>[^/]+)", guarded(get_pipeline_run))
    router.add("POST", base + r"/PipelineRuns/(?P<run_id>[^/]+)/Graph/AllNodes/StatusCode", guarded(node_statuses))
    router.add("POST", base + r"/PipelineRuns/(?P<run_id>[^/]+)/Graph/Node/StatusCode", guarded(node_status))
    router.add("DELETE", base + r"/PipelineRuns/(?P<run_id>[^/]+)/Execution", guarded(cancel_run))
    router.add("POST", base + r"/PipelineRuns/(?P<run_id>[^/]+)/Graph/Shareable/(?P<kind>STDOUT|STDERR|JobLog)",
               guarded(shareable_log))
    router.add("POST", base + r"/PipelineEndpoints/Create", guarded(create_endpoint))
    router.add("GET", base + r"/PipelineEndpoints/Name", guarded(endpoint_by_name))
    router.add("GET", base + r"/PipelineEndpoints/Id/(?P<endpoint_id>[^/]+)", guarded(endpoint_by_id))
    router.add("PUT", base + r"/PipelineEndpoints/(?P<endpoint_id>[^/]+)", guarded(update_endpoint))
    router.add("GET", base + r"/PipelineEndpoints/(?P<endpoint_id>[^/]+)/pipelines", guarded(endpoint_pipelines))
    return router
