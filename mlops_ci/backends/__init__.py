"""The port every backend implements, and the lazy choice of adapter: only the adapter imports its SDK."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from mlops_ci.domain import (
    DatasetRegistration,
    ModelRegistration,
    PipelineRun,
    PublishedPipeline,
    RegisteredDataset,
    RegisteredModel,
)
from mlops_ci.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mlops_ci.context import Settings
    from mlops_ci.domain import CandidateEndpoint, Poller, Service, ServiceKeys, ServiceSpec, ServiceToken
    from mlops_ci.pipelineyaml import PipelineDefinition
    from mlops_ci.runner import Runner


class Backend(Protocol):
    """Domain verbs, named as Azure's SDK guidelines name them."""

    name: str

    def register_model(self, request: ModelRegistration) -> RegisteredModel: ...

    def register_dataset(self, request: DatasetRegistration) -> RegisteredDataset: ...

    def get_model(self, name: str, version: int | None = None) -> RegisteredModel: ...

    def list_models(self, name: str | None = None) -> list[RegisteredModel]: ...

    def get_dataset(self, name: str, version: int | None = None) -> RegisteredDataset: ...

    def list_datasets(self, name: str | None = None) -> list[RegisteredDataset]: ...

    # -- web services ------------------------------------------------------------------------------------------
    def download_model(self, name: str, version: int, dest: Path) -> Path:
        """Lay a model version out under dest/<name>/<version>/ (as AZUREML_MODEL_DIR expects) and return it."""
        ...

    def begin_create_or_update_service(self, spec: ServiceSpec, *,
                                       verify: Callable[[CandidateEndpoint], None] | None = None) -> Poller:
        """Deploy, or replace an existing service of that name. `verify` (a smoke test) runs against the new version;
        when it raises, the previous version keeps (or goes back to) serving and the error propagates."""
        ...

    def get_service(self, name: str) -> Service:
        """The service, or ResourceNotFound."""
        ...

    def list_services(self) -> list[Service]: ...

    def get_service_keys(self, name: str) -> ServiceKeys: ...

    def get_service_token(self, name: str) -> ServiceToken: ...

    def get_service_logs(self, name: str, *, tail: int | None = None) -> str: ...

    def delete_service(self, name: str, *, timeout: float = 60.0) -> bool:
        """Stop and remove the service; False when it was already gone (not an error)."""
        ...

    # -- pipelines (v1: PublishedPipeline, PipelineEndpoint, PipelineRun) --------------------------------------
    def publish_pipeline(self, definition: PipelineDefinition, *, name: str, description: str = "",
                         version: str = "", endpoint_name: str = "") -> PublishedPipeline: ...

    def publish_pipeline_from_run(self, run_id: str, *, experiment_name: str, name: str, description: str = "",
                                  version: str = "", endpoint_name: str = "") -> PublishedPipeline: ...

    # Only the azureml backend on SDK v2 has this verb: publish-pipeline refuses a v2 pipeline job YAML elsewhere.
    def publish_pipeline_job(self, path: Path, *, name: str, description: str = "", version: str = "",
                             endpoint_name: str = "") -> PublishedPipeline: ...

    def get_published_pipeline(self, pipeline_id: str) -> PublishedPipeline: ...

    def get_pipeline_endpoint(self, name: str, *, version: str = "") -> PublishedPipeline: ...

    def submit_pipeline(self, pipeline_id: str, *, experiment_name: str,
                        parameters: Mapping[str, object] | None = None, description: str = "",
                        tags: Mapping[str, str] | None = None, max_parallel_steps: int | None = None) -> PipelineRun: ...

    def get_pipeline_run(self, run_id: str, *, experiment_name: str = "") -> PipelineRun: ...

    def list_pipeline_runs(self, *, experiment_name: str = "", limit: int = 50) -> list[PipelineRun]: ...

    def get_step_logs(self, run_id: str, step_name: str, *, experiment_name: str = "") -> str:
        """A step's log; experiment_name is needed by SDK v1 (runs live under experiments), ignored elsewhere."""
        ...

    def cancel_pipeline_run(self, run_id: str, *, experiment_name: str = "") -> PipelineRun: ...

    def get_authentication_header(self) -> dict[str, str]: ...


# backend name → "module:factory"; the module is imported only when that backend is chosen.
BACKENDS: dict[str, str] = {
    "local": "mlops_ci.backends.local.backend:open_local_backend",
    "azureml": "mlops_ci.backends.azureml_v1.backend:open_azureml_backend",
    "azureml-v2": "mlops_ci.backends.azureml_v2.backend:open_azureml_backend",
}


def open_backend(settings: Settings, runner: Runner) -> Backend:
    key = f"{settings.backend}-{settings.azureml_sdk}" if settings.backend == "azureml" and \
        settings.azureml_sdk != "v1" else settings.backend
    target = BACKENDS.get(key)
    if target is None:
        raise InputError("backend", f"Input 'backend' is '{settings.backend}', which is not a backend.",
                         fix="Use one of: " + ", ".join(BACKENDS) + ".")
    module_name, _, factory = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(("azureml", "azure")):
            extra = "azure-v2" if key == "azureml-v2" else "azure"
            raise InputError("backend", f"The '{settings.backend}' backend needs the Azure ML SDK, which is not "
                             "installed.", fix=f"Install it with `pip install 'mlops-ci[{extra}]'`.") from exc
        raise
    backend: Backend = getattr(module, factory)(settings, runner)
    return backend
