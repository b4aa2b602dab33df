"""Pipelines on SDK v2: a pipeline component deployed under a batch endpoint; invoking it starts a pipeline job.

publish-pipeline registers the component (its steps and code too) and adds a pipeline component deployment to the
batch endpoint `endpoint-name`, which becomes the endpoint's default; trigger-pipeline invokes the endpoint (or one
deployment) and follows the job it starts.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azureml_v2.pipelines import _component_name, component_dict
from mlops_ci.domain import (
    CANCELED,
    COMPLETED,
    FAILED,
    NOT_STARTED,
    RUNNING,
    PipelineRun,
    PublishedPipeline,
    StepRun,
)
from mlops_ci.errors import InputError, ResourceNotFound

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v2.backend import AzureMLV2Backend
    from mlops_ci.pipelineyaml import PipelineDefinition

STATUSES = {"NotStarted": NOT_STARTED, "Queued": NOT_STARTED, "Preparing": NOT_STARTED, "Starting": NOT_STARTED,
            "Provisioning": NOT_STARTED, "Running": RUNNING, "Finalizing": RUNNING, "CancelRequested": RUNNING,
            "Completed": COMPLETED, "Finished": COMPLETED, "Failed": FAILED, "NotResponding": FAILED,
            "Canceled": CANCELED}
DEPLOYMENT_NAME = re.compile(r"[^A-Za-z0-9-]+")
MAX_LOG_FILES = 5
MAX_LOG_CHARS = 200_000  # the end of a long log is where a failure is


def _deployment_name(name: str, version: str) -> str:
    text = DEPLOYMENT_NAME.sub("-", f"{name}-{version}").strip("-").lower()
    return (text if text[:1].isalpha() else f"p-{text}")[:32].rstrip("-")


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


class BatchVerbs:
    def _batch_endpoint(self: AzureMLV2Backend, name: str, *, input_name: str = "endpoint-name") -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        try:
            return self.call(f"Looking up batch endpoint {name}", lambda: client.batch_endpoints.get(name))
        except ResourceNotFoundError as exc:
            raise ResourceNotFound(input_name, f"Batch endpoint '{name}' does not exist in workspace "
                                   f"{self.ref.workspace_name}.",
                                   fix="Publish a pipeline under it first with publish-pipeline.") from exc

    def _published(self: AzureMLV2Backend, endpoint: Any, deployment: Any) -> PublishedPipeline:
        component = getattr(deployment, "component", None)
        component_id = component if isinstance(component, str) else getattr(component, "id", "") or ""
        version = (deployment.tags or {}).get("mlops-ci.version", "")
        name = (deployment.tags or {}).get("mlops-ci.pipeline", deployment.name)
        steps = tuple((deployment.tags or {}).get("mlops-ci.steps", "").split(",")) \
            if (deployment.tags or {}).get("mlops-ci.steps") else ()
        return PublishedPipeline(
            id=deployment.id or f"{endpoint.id}/deployments/{deployment.name}", name=name, version=version,
            endpoint=endpoint.scoring_uri or "", description=deployment.description or "",
            endpoint_name=endpoint.name, endpoint_url=endpoint.scoring_uri or "", steps=steps,
            parameters={"component": component_id})

    def publish_pipeline(self: AzureMLV2Backend, definition: PipelineDefinition, *, name: str, description: str = "",
                         version: str = "", endpoint_name: str = "") -> PublishedPipeline:
        import yaml
        from azure.ai.ml import load_component

        self._require_batch_endpoint_name(endpoint_name)
        self._check_computes({f"pipeline.steps.{step.key}.compute": step.compute or definition.default_compute
                              for step in definition.steps})
        version = self._next_pipeline_version(name, version)
        document = component_dict(definition, name=name, version=version, description=description)
        with tempfile.TemporaryDirectory(prefix="mlops-ci-component-") as scratch:
            source = Path(scratch) / "pipeline-component.yml"
            source.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
            try:
                component = load_component(source=str(source))
            except Exception as exc:  # the SDK's schema check of the translation: one of our inputs is off
                raise InputError("pipeline-yaml", f"Input 'pipeline-yaml' does not translate to a valid v2 pipeline "
                                 f"component: {str(exc).splitlines()[0][:300]}",
                                 fix="Read the message; check pipeline-name and the step names.",
                                 logs=str(exc)[:5000]) from exc
            return self._deploy_pipeline_component(
                component, name=name, version=version, description=description or definition.description,
                settings={"default_compute": definition.default_compute} if definition.default_compute else {},
                steps=tuple(s.key for s in definition.steps), endpoint_name=endpoint_name)

    # -- shared by the v1 YAML translation and the v2 pipeline job YAML ------------------------------------------
    @staticmethod
    def _require_batch_endpoint_name(endpoint_name: str) -> None:
        if not endpoint_name:
            raise InputError("endpoint-name", "With azureml-sdk v2, publish-pipeline deploys the pipeline under a "
                             "batch endpoint, and 'endpoint-name' is empty.",
                             fix="Set endpoint-name to the batch endpoint to create or update.")

    @staticmethod
    def _component_name(name: str) -> str:
        return _component_name(name)

    def _check_computes(self: AzureMLV2Backend, wanted: Mapping[str, str]) -> None:
        """Every compute the pipeline names (key path → compute name) exists, or exit 2 naming the key."""
        if not any(wanted.values()):
            return
        client = self.client
        computes = {c.name for c in self.call("Listing compute targets", lambda: list(client.compute.list()))}
        for key, compute in wanted.items():
            if compute and compute not in computes:
                raise InputError("pipeline-yaml", f"Input 'pipeline-yaml': `{key}` is '{compute}', which does not "
                                 f"exist in workspace {self.ref.workspace_name}.",
                                 fix=f"Create it, or use one of: {', '.join(sorted(computes)) or 'none'}.")

    def _next_pipeline_version(self: AzureMLV2Backend, name: str, version: str) -> str:
        if version:
            return version
        latest = self._latest(self.client.components, "pipeline component", _component_name(name))
        return str(int(latest.version) + 1) if latest is not None and str(latest.version).isdigit() else "1"

    def _deploy_pipeline_component(self: AzureMLV2Backend, component: Any, *, name: str, version: str,
                                   description: str, settings: Mapping[str, str], steps: tuple[str, ...],
                                   endpoint_name: str) -> PublishedPipeline:
        """Register the component, create the batch endpoint when missing, deploy, and make it the default."""
        from azure.ai.ml.entities import BatchEndpoint, PipelineComponentBatchDeployment

        client = self.client
        registered = self.call(f"Registering pipeline component {name}:{version}",
                               lambda: client.components.create_or_update(component))
        deadline = time.monotonic() + self.policy.budget_seconds
        try:
            endpoint = self._batch_endpoint(endpoint_name)
        except ResourceNotFound:
            poller = self.call(f"Creating batch endpoint {endpoint_name}",
                               lambda: client.batch_endpoints.begin_create_or_update(
                                   BatchEndpoint(name=endpoint_name, description="Published by mlops-ci")))
            endpoint = self.wait(poller, f"Creation of batch endpoint {endpoint_name}", deadline)
        deployment_name = _deployment_name(name, version)
        deployment = PipelineComponentBatchDeployment(
            name=deployment_name, endpoint_name=endpoint_name, component=registered,
            description=description or None, settings=dict(settings) or None,
            tags={"mlops-ci.pipeline": name, "mlops-ci.version": version, "mlops-ci.steps": ",".join(steps)})
        poller = self.call(f"Deploying {name}:{version} to batch endpoint {endpoint_name}",
                           lambda: client.batch_deployments.begin_create_or_update(deployment))
        created = self.wait(poller, f"Deployment {endpoint_name}/{deployment_name}", deadline)
        endpoint = self._batch_endpoint(endpoint_name)
        endpoint.defaults.deployment_name = deployment_name
        poller = self.call(f"Making {deployment_name} the default of {endpoint_name}",
                           lambda: client.batch_endpoints.begin_create_or_update(endpoint))
        endpoint = self.wait(poller, f"Update of batch endpoint {endpoint_name}", deadline)
        return self._published(endpoint, created)

    def publish_pipeline_from_run(self: AzureMLV2Backend, run_id: str, *, experiment_name: str, name: str,
                                  description: str = "", version: str = "", endpoint_name: str = "") -> Any:
        raise InputError("run-id", "With azureml-sdk v2, publish-pipeline publishes a pipeline YAML; publishing the "
                         "pipeline of an earlier run is a v1 feature.",
                         fix="Give pipeline-yaml instead of run-id, or use azureml-sdk v1.")

    def get_published_pipeline(self: AzureMLV2Backend, pipeline_id: str) -> PublishedPipeline:
        found = re.search(r"/batchEndpoints/([^/]+)/deployments/([^/]+)$", pipeline_id)
        if not found:
            raise InputError("pipeline-id", f"Input 'pipeline-id' is '{pipeline_id[:80]}', which is not a batch "
                             "deployment id.", fix="Use the pipeline-id output of publish-pipeline with azureml-sdk v2.")
        endpoint_name, deployment_name = found.groups()
        return self._deployment_pipeline(endpoint_name, deployment_name, input_name="pipeline-id")

    def _deployment_pipeline(self: AzureMLV2Backend, endpoint_name: str, deployment_name: str, *,
                             input_name: str) -> PublishedPipeline:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        endpoint = self._batch_endpoint(endpoint_name, input_name=input_name)
        try:
            deployment = self.call(f"Looking up deployment {endpoint_name}/{deployment_name}",
                                   lambda: client.batch_deployments.get(deployment_name, endpoint_name))
        except ResourceNotFoundError as exc:
            raise ResourceNotFound(input_name, f"Batch endpoint '{endpoint_name}' has no deployment "
                                   f"'{deployment_name}'.", fix="Use an output of publish-pipeline.") from exc
        return self._published(endpoint, deployment)

    def get_pipeline_endpoint(self: AzureMLV2Backend, name: str, *, version: str = "") -> PublishedPipeline:
        endpoint = self._batch_endpoint(name)
        if not version:
            default = getattr(endpoint.defaults, "deployment_name", "") if endpoint.defaults else ""
            if not default:
                raise ResourceNotFound("endpoint-name", f"Batch endpoint '{name}' has no default deployment.",
                                       fix="Publish a pipeline under it with publish-pipeline.")
            return self._deployment_pipeline(name, default, input_name="endpoint-name")
        client = self.client
        for deployment in self.call(f"Listing the deployments of {name}",
                                    lambda: list(client.batch_deployments.list(name))):
            if (deployment.tags or {}).get("mlops-ci.version") == version:
                return self._published(endpoint, deployment)
        raise ResourceNotFound("pipeline-version", f"Batch endpoint '{name}' has no pipeline version '{version}'.",
                               fix="Use a pipeline-version output of publish-pipeline.")

    def submit_pipeline(self: AzureMLV2Backend, pipeline_id: str, *, experiment_name: str,
                        parameters: Mapping[str, object] | None = None, description: str = "",
                        tags: Mapping[str, str] | None = None, max_parallel_steps: int | None = None) -> PipelineRun:
        from azure.ai.ml import Input

        if max_parallel_steps is not None:
            self.runner.warning("Input 'max-parallel-steps' has no Azure ML SDK v2 meaning (a pipeline job's "
                                "steps run as the compute allows); it is not used.", title="mlops-ci azureml-sdk v2")
        found = re.search(r"/batchEndpoints/([^/]+)/deployments/([^/]+)$", pipeline_id)
        if not found:
            raise InputError("pipeline-id", "The pipeline id is not a batch deployment id.",
                             fix="Use the pipeline-id output of publish-pipeline with azureml-sdk v2.")
        endpoint_name, deployment_name = found.groups()
        client = self.client
        inputs = {k: Input(type="string", default=str(v)) for k, v in (parameters or {}).items()}
        job = self.call(f"Invoking batch endpoint {endpoint_name}",
                        lambda: client.batch_endpoints.invoke(endpoint_name, deployment_name=deployment_name,
                                                              inputs=inputs or None,
                                                              experiment_name=experiment_name))
        return self.get_pipeline_run(job.name, experiment_name=experiment_name)

    def submit_to_endpoint_url(self: AzureMLV2Backend, url: str, *, experiment_name: str,
                               parameters: Mapping[str, object] | None = None, version: str = "") -> str:
        """trigger-pipeline with pipeline-endpoint: invoke the batch endpoint whose scoring URI this is."""
        client = self.client
        endpoints = self.call("Listing batch endpoints", lambda: list(client.batch_endpoints.list()))
        endpoint = next((e for e in endpoints if (e.scoring_uri or "").rstrip("/") == url.rstrip("/")), None)
        if endpoint is None:
            raise InputError("pipeline-endpoint", "Input 'pipeline-endpoint' is not the scoring URI of a batch "
                             f"endpoint in workspace {self.ref.workspace_name}.",
                             fix="Use the pipeline-endpoint output of publish-pipeline with azureml-sdk v2.")
        published = self.get_pipeline_endpoint(endpoint.name, version=version)
        return self.submit_pipeline(published.id, experiment_name=experiment_name, parameters=parameters).id

    def get_pipeline_run(self: AzureMLV2Backend, run_id: str, *, experiment_name: str = "") -> PipelineRun:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        try:
            job = self.call(f"Reading job {run_id}", lambda: client.jobs.get(run_id))
        except ResourceNotFoundError as exc:
            raise ResourceNotFound("run-id", f"Job '{run_id}' does not exist in workspace "
                                   f"{self.ref.workspace_name}.", fix="Use the run-id output of trigger-pipeline.") \
                from exc
        created = getattr(job.creation_context, "created_at", None)
        status = STATUSES.get(_text(job.status), RUNNING)
        # The steps (child jobs, from run history) are read once the job has ended: one listing, not one per poll.
        steps = self._steps(job.name) if status in (COMPLETED, FAILED, CANCELED) else ()
        failing = [s.name for s in steps if s.status == FAILED]
        error = ""
        if status == FAILED:
            error = (f"step {', '.join(failing)} failed (its log is in the step's group)" if failing else
                     f"see the failed step in Azure ML studio: {job.studio_url or job.name}")
        return PipelineRun(
            id=job.name, pipeline_id=str((job.properties or {}).get("azureml.batchDeployment", "")),
            experiment_name=job.experiment_name or experiment_name, status=status, url=job.studio_url or "",
            created_at=created.isoformat() if created else "", description=job.description or "",
            tags=dict(job.tags or {}), steps=steps, error=error)

    def _steps(self: AzureMLV2Backend, run_id: str) -> tuple[StepRun, ...]:
        client = self.client
        children = self.call(f"Listing the steps of job {run_id}",
                             lambda: [c for c in client.jobs.list(parent_job_name=run_id) if c is not None])
        self._step_ids = {c.display_name or c.name: c.name for c in children}
        return tuple(StepRun(id=c.name, name=c.display_name or c.name, status=STATUSES.get(_text(c.status), RUNNING))
                     for c in children)

    def list_pipeline_runs(self: AzureMLV2Backend, *, experiment_name: str = "", limit: int = 50) -> list[PipelineRun]:
        client = self.client
        jobs = self.call("Listing jobs", lambda: list(client.jobs.list()))[:limit]
        return [self.get_pipeline_run(j.name) for j in jobs if not experiment_name or
                j.experiment_name == experiment_name]

    def get_step_logs(self: AzureMLV2Backend, run_id: str, step_name: str, *, experiment_name: str = "") -> str:
        """The step's user logs, from the SAS URLs run history gives for its child job."""
        import requests

        client = self.client
        if step_name not in self._step_ids:
            self._steps(run_id)
        step_ids = self._step_ids
        if step_name not in step_ids:
            return f"(job {run_id} has no step {step_name})"
        # The SDK's own log reader (jobs.stream) reads these RunDetails.log_files, but prints to the console.
        details = self.call(f"Reading the log files of step {step_name}",
                            lambda: client.jobs._runs_operations.get_run_details(step_ids[step_name]))
        files = dict(details.log_files or {})
        names = [n for n in sorted(files) if n.startswith("user_logs/")] or sorted(files)
        parts = []
        for name in names[:MAX_LOG_FILES]:
            def download(url: str = files[name]) -> str:
                reply = requests.get(url, timeout=60)
                reply.raise_for_status()
                return reply.text
            text = self.call(f"Downloading {name} of step {step_name}", download)
            parts.append(f"== {name}\n{text[-MAX_LOG_CHARS:]}")
        return "\n".join(parts) or f"(step {step_name} wrote no log files)"

    def cancel_pipeline_run(self: AzureMLV2Backend, run_id: str, *, experiment_name: str = "") -> PipelineRun:
        client = self.client
        self.call(f"Canceling job {run_id}", lambda: client.jobs.begin_cancel(run_id))
        return self.get_pipeline_run(run_id)
