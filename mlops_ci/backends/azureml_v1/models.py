"""Models on Azure ML: register with the content's sha256 as a tag, reuse the latest version when it matches."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azure_common.digests import SHA_TAG, digest_of
from mlops_ci.backends.azureml_v1 import sdk
from mlops_ci.content import Digest
from mlops_ci.domain import ModelRegistration, RegisteredModel
from mlops_ci.errors import ResourceNotFound, ServiceError

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v1.backend import AzureMLBackend

def to_model(model: Any, *, reused: bool = False, digest: Digest | None = None) -> RegisteredModel:
    tags = dict(model.tags or {})
    created = model.created_time.isoformat() if getattr(model, "created_time", None) else ""
    return RegisteredModel(
        name=model.name, version=int(model.version), sha256=tags.get(SHA_TAG, ""), reused=reused,
        description=model.description or "", tags={k: v for k, v in tags.items() if k != SHA_TAG},
        properties=dict(model.properties or {}), framework=model.model_framework or "", created_at=created,
        files=tuple(e.path for e in digest.entries) if digest else (), size=digest.size if digest else 0,
    )


class ModelVerbs:
    def register_model(self: AzureMLBackend, request: ModelRegistration) -> RegisteredModel:
        from azureml.core import Model

        digest = digest_of("model-path", request.path)
        if not request.force_new_version:
            latest = self._latest_model(request.name)
            if latest is not None and (latest.tags or {}).get(SHA_TAG) == digest.sha256:
                return to_model(latest, reused=True, digest=digest)
        workspace = self.workspace
        tags = {**request.tags, SHA_TAG: digest.sha256}
        attempts = []

        def register() -> Any:
            if attempts and not request.force_new_version:
                # A retried call may have registered the version before its reply was lost.
                latest = self._latest_model(request.name)
                if latest is not None and (latest.tags or {}).get(SHA_TAG) == digest.sha256:
                    return latest
            attempts.append(1)
            # Model.register refuses paths outside the working directory; work from the model's own folder.
            with contextlib.chdir(request.path.resolve().parent):
                return Model.register(workspace, model_path=request.path.name, model_name=request.name, tags=tags,
                                      properties=dict(request.properties) or None,
                                      description=request.description or None,
                                      model_framework=request.framework or None)

        model = self.call(f"Registering model {request.name}", register)
        return to_model(model, digest=digest)

    def _latest_model(self: AzureMLBackend, name: str) -> Any:
        from azureml.core import Model

        workspace = self.workspace
        found = self.call(f"Looking up model {name}", lambda: Model.list(workspace, name=name, latest=True))
        return found[0] if found else None

    def get_model(self: AzureMLBackend, name: str, version: int | None = None) -> RegisteredModel:
        from azureml.core import Model

        workspace = self.workspace
        if version is None:
            latest = self._latest_model(name)
            if latest is None:
                raise ResourceNotFound("model", f"Model '{name}' is not registered in workspace "
                                       f"{self.ref.workspace_name}.", fix="Register it first with register-model.")
            return to_model(latest)
        try:
            model = self.call(f"Looking up model {name}:{version}", lambda: Model(workspace, name=name, version=version))
        except Exception as exc:
            if sdk.http_status(exc) == 404 or "not found" in str(exc).lower():
                raise ResourceNotFound("model", f"Model '{name}' version {version} is not registered in workspace "
                                       f"{self.ref.workspace_name}.",
                                       fix="Check the model name and version (`mlops-ci models` lists them).") from exc
            raise ServiceError(f"Azure ML could not look up model {name}:{version}: {sdk.error_text(exc)}") from exc
        return to_model(model)

    def list_models(self: AzureMLBackend, name: str | None = None) -> list[RegisteredModel]:
        from azureml.core import Model

        workspace = self.workspace
        models = self.call("Listing models", lambda: Model.list(workspace, name=name))
        return sorted((to_model(m) for m in models), key=lambda m: (m.name, m.version))
