"""Models and data assets on SDK v2: the content's sha256 as a tag, the latest version reused when it matches."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azure_common.digests import SHA_TAG, dataset_content, digest_of
from mlops_ci.domain import DatasetRegistration, ModelRegistration, RegisteredDataset, RegisteredModel
from mlops_ci.errors import ResourceNotFound

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v2.backend import AzureMLV2Backend

FRAMEWORK_PROPERTY = "mlops-ci.framework"
DATASET_TYPE_TAG = "mlops-ci.dataset-type"
PARQUET = (".parquet", ".pq")


def to_model(model: Any, *, reused: bool = False, files: tuple[str, ...] = (), size: int = 0) -> RegisteredModel:
    tags = dict(model.tags or {})
    properties = dict(model.properties or {})
    created = getattr(model.creation_context, "created_at", None)
    return RegisteredModel(
        name=model.name, version=int(model.version), sha256=tags.get(SHA_TAG, ""), reused=reused,
        description=model.description or "", tags={k: v for k, v in tags.items() if k != SHA_TAG},
        properties={k: v for k, v in properties.items() if k != FRAMEWORK_PROPERTY},
        framework=properties.get(FRAMEWORK_PROPERTY, ""), created_at=created.isoformat() if created else "",
        files=files, size=size)


def to_dataset(data: Any, *, reused: bool = False, files: tuple[str, ...] = (), columns: tuple[str, ...] = (),
               size: int = 0) -> RegisteredDataset:
    tags = dict(data.tags or {})
    created = getattr(data.creation_context, "created_at", None)
    return RegisteredDataset(
        name=data.name, version=int(data.version), dataset_type=tags.get(DATASET_TYPE_TAG, "file"), reused=reused,
        sha256=tags.get(SHA_TAG, ""), url=str(data.path or ""), description=data.description or "",
        tags={k: v for k, v in tags.items() if k not in (SHA_TAG, DATASET_TYPE_TAG)},
        created_at=created.isoformat() if created else "", files=files, columns=columns, size=size)


def _next_version(latest: Any) -> str:
    return str(int(latest.version) + 1) if latest is not None and str(latest.version).isdigit() else "1"


class AssetVerbs:
    # -- models ------------------------------------------------------------------------------------------------
    def _latest(self: AzureMLV2Backend, operations: Any, what: str, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        def latest() -> Any:
            try:
                return operations.get(name, label="latest")
            except ResourceNotFoundError:
                return None
            except Exception as exc:
                # The SDK raises its own validation error when a name has no versions yet.
                if "does not exist" in str(exc) or "could not be found" in str(exc):
                    return None
                raise

        return self.call(f"Looking up {what} {name}", latest)

    def register_model(self: AzureMLV2Backend, request: ModelRegistration) -> RegisteredModel:
        from azure.ai.ml.entities import Model

        digest = digest_of("model-path", request.path)
        files, size = tuple(e.path for e in digest.entries), digest.size
        client = self.client
        latest = self._latest(client.models, "model", request.name)
        if not request.force_new_version and latest is not None and (latest.tags or {}).get(SHA_TAG) == digest.sha256:
            return to_model(latest, reused=True, files=files, size=size)
        properties = dict(request.properties)
        if request.framework:
            # SDK v2 models have no framework field: kept as a property, and said so.
            properties[FRAMEWORK_PROPERTY] = request.framework
            self.runner.warning(f"Input 'model-framework' ({request.framework}) has no field in Azure ML SDK v2 "
                                f"models; it is stored as the property '{FRAMEWORK_PROPERTY}'.",
                                title="mlops-ci azureml-sdk v2")
        model = Model(path=str(request.path.resolve()), name=request.name, version=_next_version(latest),
                      description=request.description or None, tags={**request.tags, SHA_TAG: digest.sha256},
                      properties=properties, type="custom_model")
        # A retried PUT of the same version and content is accepted again: the upload path is content-addressed.
        created = self.call(f"Registering model {request.name}", lambda: client.models.create_or_update(model))
        return to_model(created, files=files, size=size)

    def get_model(self: AzureMLV2Backend, name: str, version: int | None = None) -> RegisteredModel:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        if version is None:
            latest = self._latest(client.models, "model", name)
            if latest is None:
                raise ResourceNotFound("model", f"Model '{name}' is not registered in workspace "
                                       f"{self.ref.workspace_name}.", fix="Register it first with register-model.")
            return to_model(latest)
        try:
            return to_model(self.call(f"Looking up model {name}:{version}",
                                      lambda: client.models.get(name, version=str(version))))
        except ResourceNotFoundError as exc:
            raise ResourceNotFound("model", f"Model '{name}' version {version} is not registered in workspace "
                                   f"{self.ref.workspace_name}.", fix="Check the model name and version.") from exc

    def list_models(self: AzureMLV2Backend, name: str | None = None) -> list[RegisteredModel]:
        client = self.client
        if name:
            found = self.call("Listing models", lambda: list(client.models.list(name=name)))
        else:
            found = []
            for container in self.call("Listing models", lambda: list(client.models.list())):
                found += self.call("Listing models", lambda c=container: list(client.models.list(name=c.name)))
        return sorted((to_model(m) for m in found), key=lambda m: (m.name, m.version))

    def download_model(self: AzureMLV2Backend, name: str, version: int, dest: Path) -> Path:
        client = self.client
        target = dest / name / str(version)
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mlops-ci-download-") as scratch:
            self.call(f"Downloading model {name}:{version}",
                      lambda: client.models.download(name, str(version), download_path=scratch))
            # The SDK writes <scratch>/<name>/<the registered file or folder>; the preflight wants its contents.
            root = Path(scratch) / name
            entries = list(root.iterdir()) if root.is_dir() else []
            inner = entries[0] if len(entries) == 1 and entries[0].is_dir() else root
            for item in inner.iterdir():
                shutil.move(str(item), target / item.name)
        return target

    # -- data assets ---------------------------------------------------------------------------------------------
    def register_dataset(self: AzureMLV2Backend, request: DatasetRegistration) -> RegisteredDataset:
        from azure.ai.ml.entities import Data

        sha, files, size, columns, _ = dataset_content(request)
        client = self.client
        latest = self._latest(client.data, "data asset", request.name)
        if latest is not None and (latest.tags or {}).get(SHA_TAG) == sha and \
                (latest.tags or {}).get(DATASET_TYPE_TAG) == request.dataset_type:
            return to_dataset(latest, reused=True, files=files, columns=columns, size=size)
        tags = {**request.tags, SHA_TAG: sha, DATASET_TYPE_TAG: request.dataset_type}
        with tempfile.TemporaryDirectory(prefix="mlops-ci-mltable-") as scratch:
            path, kind = self._data_source(request, files, Path(scratch))
            data = Data(path=path, type=kind, name=request.name, version=_next_version(latest),
                        description=request.description or None, tags=tags)
            created = self.call(f"Registering data asset {request.name} ({kind})",
                                lambda: client.data.create_or_update(data))
        return to_dataset(created, files=files, columns=columns, size=size)

    def _data_source(self: AzureMLV2Backend, request: DatasetRegistration, files: tuple[str, ...],
                     scratch: Path) -> tuple[str, str]:
        """(path, asset type): a file or folder as uri_file/uri_folder; tabular data as an mltable folder."""
        if request.dataset_type == "file":
            if request.path is not None:
                return str(request.path.resolve()), "uri_file" if request.path.is_file() else "uri_folder"
            return request.url, "uri_folder" if request.url.split("?")[0].endswith("/") else "uri_file"
        if request.path is not None and request.path.is_dir() and (request.path / "MLTable").is_file():
            return str(request.path.resolve()), "mltable"
        # CLI v1 tabular datasets read delimited (or Parquet) files: the MLTable file says the same.
        folder = scratch / (request.path.name if request.path is not None else "table")
        folder.mkdir()
        if request.path is None:
            sources = [request.url]
        elif request.path.is_file():
            shutil.copy2(request.path, folder / request.path.name)
            sources = [f"./{request.path.name}"]
        else:
            shutil.copytree(request.path, folder, dirs_exist_ok=True)
            sources = [f"./{Path(f).relative_to(request.path.name).as_posix()}" for f in files]
        parquet = all(s.split("?")[0].lower().endswith(PARQUET) for s in sources)
        read = "  - read_parquet\n" if parquet else \
            "  - read_delimited:\n      delimiter: ','\n      header: all_files_same_headers\n      encoding: utf8\n"
        lines = "".join(f"  - file: {s}\n" for s in sources)
        (folder / "MLTable").write_text(f"paths:\n{lines}transformations:\n{read}", encoding="utf-8")
        return str(folder), "mltable"

    def get_dataset(self: AzureMLV2Backend, name: str, version: int | None = None) -> RegisteredDataset:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        if version is None:
            latest = self._latest(client.data, "data asset", name)
            if latest is None:
                raise ResourceNotFound("dataset-name", f"Data asset '{name}' is not registered in workspace "
                                       f"{self.ref.workspace_name}.", fix="Register it first with register-dataset.")
            return to_dataset(latest)
        try:
            return to_dataset(self.call(f"Looking up data asset {name}:{version}",
                                        lambda: client.data.get(name, version=str(version))))
        except ResourceNotFoundError as exc:
            raise ResourceNotFound("dataset-name", f"Data asset '{name}' version {version} is not registered.",
                                   fix="Check the name and version.") from exc

    def list_datasets(self: AzureMLV2Backend, name: str | None = None) -> list[RegisteredDataset]:
        client = self.client
        names = [name] if name else [c.name for c in self.call("Listing data assets", lambda: list(client.data.list()))]
        found = []
        for each in names:
            found += self.call("Listing data assets", lambda n=each: list(client.data.list(name=n)))
        return sorted((to_dataset(d) for d in found), key=lambda d: (d.name, d.version))
