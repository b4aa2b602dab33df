"""Pipelines on Azure ML: Pipeline.load_yaml + publish, publish from a run, PipelineEndpoint versions, runs."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlops_ci.backends.azureml_v1 import sdk
from mlops_ci.domain import CANCELED, COMPLETED, FAILED, NOT_STARTED, RUNNING, PipelineRun, PublishedPipeline, StepRun
from mlops_ci.errors import InputError, MlopsCiError, ResourceNotFound, ServiceError
from mlops_ci.pipelineyaml import DataPath, PipelineDefinition

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v1.backend import AzureMLBackend

# The pipelines service says Finished where run history (and our domain) says Completed.
STATUSES = {"NotStarted": NOT_STARTED, "Queued": NOT_STARTED, "Preparing": NOT_STARTED, "Starting": RUNNING,
            "Running": RUNNING, "Finalizing": RUNNING, "CancelRequested": RUNNING, "Finished": COMPLETED,
            "Completed": COMPLETED, "Failed": FAILED, "Canceled": CANCELED, "Cancelled": CANCELED}


def _datapath(value: DataPath) -> dict[str, str]:
    return {"datastore": value.datastore, "path_on_datastore": value.path_on_datastore}


def to_yaml(definition: PipelineDefinition) -> dict[str, Any]:
    """The definition back in Pipeline.load_yaml's format, with absolute source directories."""
    parameters = {}
    for p in definition.parameters:
        default = _datapath(p.default) if isinstance(p.default, DataPath) else p.default
        parameters[p.name] = {"type": p.type, **({"default": default} if default is not None else {})}
    references: dict[str, Any] = {}
    for r in definition.data_references:
        if r.datapath is not None:
            references[r.name] = _datapath(r.datapath)
        else:
            references[r.name] = {"dataset_name": r.dataset_name} if r.dataset_name else {"dataset_id": r.dataset_id}
    steps: dict[str, Any] = {}
    for s in definition.steps:
        step: dict[str, Any] = {"type": "PythonScriptStep", "name": s.name, "script_name": s.script_name,
                                "source_directory": str(s.source_directory.resolve()), "allow_reuse": s.allow_reuse}
        if s.compute:
            step["compute"] = s.compute
        if s.runconfig is not None:
            step["runconfig"] = str(s.runconfig.resolve())
        if s.version:
            step["version"] = s.version
        if s.arguments:
            step["arguments"] = [a.value if a.kind == "literal" else f"{a.kind}:{a.value}" for a in s.arguments]
        for key, items in (("parameters", s.parameters), ("runconfig_parameters", s.runconfig_parameters)):
            if items:
                step[key] = {p.name: ({"source": p.source} if p.source else p.value) for p in items}
        if s.inputs:
            step["inputs"] = {i.name: {"source": i.source, "bind_mode": i.bind_mode,
                                       **({"path_on_compute": i.path_on_compute} if i.path_on_compute else {})}
                              for i in s.inputs}
        if s.outputs:
            step["outputs"] = {o.name: {"destination": o.destination, "bind_mode": o.bind_mode,
                                        **({"datastore": o.datastore} if o.datastore else {}),
                                        **({"path_on_compute": o.path_on_compute} if o.path_on_compute else {})}
                               for o in s.outputs}
        steps[s.key] = step
    pipeline: dict[str, Any] = {"description": definition.description, "steps": steps}
    if definition.default_compute:
        pipeline["default_compute"] = definition.default_compute
    if parameters:
        pipeline["parameters"] = parameters
    if references:
        pipeline["data_references"] = references
    return {"pipeline": pipeline}


def _published(pipeline: Any, definition: PipelineDefinition | None = None, endpoint: Any = None) -> PublishedPipeline:
    steps = tuple(s.key for s in definition.steps) if definition else ()
    params: dict[str, str] = {}
    if definition:
        params = {p.name: str(p.default) for p in definition.parameters if p.default is not None}
    return PublishedPipeline(
        id=pipeline.id, name=pipeline.name or "", version=str(pipeline.version or ""), endpoint=pipeline.endpoint or "",
        description=pipeline.description or "", endpoint_name=endpoint.name if endpoint is not None else "",
        endpoint_url=endpoint.endpoint if endpoint is not None else "", steps=steps,
        edges=definition.edges() if definition else (), parameters=params)


class PipelineVerbs:
    def _computes(self: AzureMLBackend) -> list[str]:
        from azureml.core.compute import ComputeTarget

        workspace = self.workspace
        return sorted(t.name for t in self.call("Listing compute targets", lambda: ComputeTarget.list(workspace)))

    def _next_version(self: AzureMLBackend, name: str) -> str:
        from azureml.pipeline.core import PublishedPipeline as SdkPublished

        workspace = self.workspace
        existing = self.call("Listing published pipelines", lambda: SdkPublished.list(workspace))
        return str(1 + sum(1 for p in existing if p.name == name))

    def _under_endpoint(self: AzureMLBackend, published: Any, endpoint_name: str, description: str) -> Any:
        from azureml.pipeline.core import PipelineEndpoint

        workspace = self.workspace
        try:
            endpoint = self.call(f"Looking up pipeline endpoint {endpoint_name}",
                                 lambda: PipelineEndpoint.get(workspace, name=endpoint_name))
        except MlopsCiError:
            raise
        except Exception as exc:  # the SDK says "not found" in several ways; anything else propagates
            if sdk.http_status(exc) not in (404, None) and "not found" not in str(exc).lower():
                raise
            return self.call(f"Creating pipeline endpoint {endpoint_name}", lambda: PipelineEndpoint.publish(
                workspace, name=endpoint_name, pipeline=published, description=description or endpoint_name))
        self.call(f"Making {published.id} the default of {endpoint_name}", lambda: endpoint.add_default(published))
        return endpoint

    def publish_pipeline(self: AzureMLBackend, definition: PipelineDefinition, *, name: str, description: str = "",
                         version: str = "", endpoint_name: str = "") -> PublishedPipeline:
        from azureml.pipeline.core import Pipeline

        workspace = self.workspace
        computes = self._computes()
        wanted = {definition.default_compute, *(s.compute for s in definition.steps)} - {""}
        for compute in sorted(wanted):
            if compute not in computes:
                raise InputError("pipeline-yaml", f"Input 'pipeline-yaml' names compute '{compute}', which is not a "
                                 f"compute target of workspace {self.ref.workspace_name}.",
                                 fix="Use one of: " + (", ".join(computes) or "none (create a compute cluster)") + ".")
        version = version or self._next_version(name)
        with tempfile.TemporaryDirectory(prefix="mlops-ci-pipeline-") as scratch:
            path = Path(scratch) / "pipeline.yml"
            path.write_text(yaml.safe_dump(to_yaml(definition), sort_keys=False), encoding="utf-8")
            pipeline = self.call("Loading the pipeline YAML", lambda: Pipeline.load_yaml(workspace, str(path)))
            published = self.call(f"Publishing pipeline {name}", lambda: pipeline.publish(
                name=name, description=description or definition.description, version=version))
        endpoint = self._under_endpoint(published, endpoint_name, description) if endpoint_name else None
        return _published(published, definition, endpoint)

    def publish_pipeline_from_run(self: AzureMLBackend, run_id: str, *, experiment_name: str, name: str,
                                  description: str = "", version: str = "", endpoint_name: str = "") -> PublishedPipeline:
        run = self._sdk_run(run_id, experiment_name)
        version = version or self._next_version(name)
        published = self.call(f"Publishing the pipeline of run {run_id}", lambda: run.publish_pipeline(
            name=name, description=description or f"Published from run {run_id}", version=version))
        endpoint = self._under_endpoint(published, endpoint_name, description) if endpoint_name else None
        return _published(published, None, endpoint)

    def get_published_pipeline(self: AzureMLBackend, pipeline_id: str) -> PublishedPipeline:
        from azureml.pipeline.core import PublishedPipeline as SdkPublished

        workspace = self.workspace
        try:
            return _published(self.call(f"Looking up pipeline {pipeline_id}",
                                        lambda: SdkPublished.get(workspace, pipeline_id)))
        except MlopsCiError:
            raise
        except Exception as exc:
            raise self._not_found(exc, "pipeline-id", f"Published pipeline '{pipeline_id}'") from exc

    def get_pipeline_endpoint(self: AzureMLBackend, name: str, *, version: str = "") -> PublishedPipeline:
        from azureml.pipeline.core import PipelineEndpoint

        workspace = self.workspace
        try:
            endpoint = self.call(f"Looking up pipeline endpoint {name}",
                                 lambda: PipelineEndpoint.get(workspace, name=name))
            pipeline = self.call(f"Reading the pipelines of {name}",
                                 lambda: endpoint.get_pipeline(version=version or None))
        except MlopsCiError:
            raise
        except Exception as exc:
            raise self._not_found(exc, "endpoint-name", f"Pipeline endpoint '{name}'") from exc
        return _published(pipeline, None, endpoint)

    def submit_pipeline(self: AzureMLBackend, pipeline_id: str, *, experiment_name: str,
                        parameters: Mapping[str, object] | None = None, description: str = "",
                        tags: Mapping[str, str] | None = None, max_parallel_steps: int | None = None) -> PipelineRun:
        from azureml.pipeline.core import PublishedPipeline as SdkPublished

        workspace = self.workspace
        published = self.call(f"Looking up pipeline {pipeline_id}", lambda: SdkPublished.get(workspace, pipeline_id))
        run = self.call(f"Submitting pipeline {pipeline_id}", lambda: published.submit(
            workspace, experiment_name, pipeline_parameters=dict(parameters or {}) or None))
        return self.get_pipeline_run(run.id, experiment_name=experiment_name)

    def _sdk_run(self: AzureMLBackend, run_id: str, experiment_name: str) -> Any:
        from azureml.core import Experiment
        from azureml.pipeline.core import PipelineRun as SdkRun

        if not experiment_name:
            raise InputError("experiment-name", "The azureml backend needs 'experiment-name' to find a pipeline run.",
                             fix="Set experiment-name to the run's experiment.")
        workspace = self.workspace
        try:
            return self.call(f"Looking up run {run_id}",
                             lambda: SdkRun(Experiment(workspace, experiment_name), run_id))
        except MlopsCiError:
            raise
        except Exception as exc:
            raise self._not_found(exc, "run-id", f"Run '{run_id}' of experiment '{experiment_name}'") from exc

    def get_pipeline_run(self: AzureMLBackend, run_id: str, *, experiment_name: str = "") -> PipelineRun:
        run = self._sdk_run(run_id, experiment_name)
        status = STATUSES.get(self.call(f"Reading the status of {run_id}", run.get_status), RUNNING)
        steps: tuple[StepRun, ...] = ()
        error = ""
        if status in (COMPLETED, FAILED, CANCELED):
            details = self.call(f"Reading run {run_id}", run.get_details)
            error = str(((details.get("error") or {}).get("error") or {}).get("message") or "")
            steps = tuple(StepRun(id=s.id, name=s.name or s.id, status=STATUSES.get(s.get_status(), RUNNING))
                          for s in self.call(f"Reading the steps of {run_id}", lambda: list(run.get_steps())))
        return PipelineRun(id=run.id, pipeline_id=str((run.properties or {}).get("azureml.pipelineid", "")),
                           experiment_name=experiment_name, status=status, url=run.get_portal_url(),
                           tags=dict(run.tags or {}), steps=steps, error=error)

    def list_pipeline_runs(self: AzureMLBackend, *, experiment_name: str = "", limit: int = 50) -> list[PipelineRun]:
        from azureml.core import Experiment

        if not experiment_name:
            raise InputError("experiment-name", "The azureml backend lists runs per experiment.",
                             fix="Set experiment-name.")
        workspace = self.workspace
        runs = self.call("Listing runs", lambda: list(Experiment(workspace, experiment_name).get_runs())[:limit])
        return [PipelineRun(id=r.id, pipeline_id="", experiment_name=experiment_name,
                            status=STATUSES.get(r.status, RUNNING)) for r in runs]

    def get_step_logs(self: AzureMLBackend, run_id: str, step_name: str, *, experiment_name: str = "") -> str:
        run = self._sdk_run(run_id, experiment_name)
        steps = self.call(f"Reading the steps of {run_id}", lambda: list(run.find_step_run(step_name)))
        if not steps:
            raise ResourceNotFound("run-id", f"Pipeline run '{run_id}' has no step '{step_name}'.",
                                   fix="Its steps are listed in the run's summary.")
        step = steps[0]
        parts = []
        for shown, read in (("stdout", step.get_stdout_log), ("stderr", step.get_stderr_log)):
            text = str(self.call(f"Reading the {shown} of step {step_name}", read) or "")
            if text.strip():
                parts.append(f"=== {shown} ===\n{text.rstrip()}")
        return self.runner.redact("\n".join(parts) or f"(step {step_name} wrote no output)")

    def cancel_pipeline_run(self: AzureMLBackend, run_id: str, *, experiment_name: str = "") -> PipelineRun:
        run = self._sdk_run(run_id, experiment_name)
        current = self.get_pipeline_run(run_id, experiment_name=experiment_name)
        if current.finished:
            return current
        self.call(f"Canceling run {run_id}", run.cancel)
        return self.get_pipeline_run(run_id, experiment_name=experiment_name)

    def _not_found(self: AzureMLBackend, exc: BaseException, input_name: str, what: str) -> MlopsCiError:
        if sdk.http_status(exc) == 404 or "not found" in str(exc).lower():
            return ResourceNotFound(input_name, f"{what} does not exist in workspace {self.ref.workspace_name}.",
                                    fix=f"Check '{input_name}'.")
        return ServiceError(f"Azure ML failed on {what}: {sdk.error_text(exc)}")
