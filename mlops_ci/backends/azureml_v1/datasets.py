"""Datasets on Azure ML through the dataset REST API and the SDK's own rest client, without the dataprep runtime.

Local files are uploaded once per content (the artifact store, as Model.register does) and referenced from the
`workspaceartifactstore` datastore; a URL is stored by reference. The service keeps the version when a definition
is unchanged, so versioning by content is decided here, with the content's sha256 as a tag.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azure_common.digests import SHA_TAG, dataset_content
from mlops_ci.backends.azureml_v1 import sdk
from mlops_ci.domain import DatasetRegistration, RegisteredDataset
from mlops_ci.errors import ResourceNotFound

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v1.backend import AzureMLBackend

ARTIFACT_DATASTORE = "workspaceartifactstore"  # the container the artifact service writes to
TYPE_NAMES = {"tabular": "tabular", "file": "file"}


def dataflow(request: DatasetRegistration, source: dict[str, Any]) -> str:
    """The dataflow document a Dataset.Tabular.from_delimited_files / Dataset.File.from_files would register."""
    blocks: list[dict[str, Any]] = []
    if "httpUrl" in source:
        blocks.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, source["httpUrl"])),
                       "type": "Microsoft.DPrep.GetFilesBlock",
                       "arguments": {"path": {"target": 0, "resourceDetails": [{"path": source["httpUrl"]}]}}})
    else:
        blocks.append({"id": str(uuid.uuid5(uuid.NAMESPACE_URL, source["relativePath"])),
                       "type": "Microsoft.DPrep.GetDatastoreFilesBlock",
                       "arguments": {"datastores": [{"datastoreName": source["datastoreName"],
                                                     "path": source["relativePath"],
                                                     "resourceGroup": source["resourceGroup"],
                                                     "subscription": source["subscription"],
                                                     "workspaceName": source["workspaceName"]}]}})
    if request.dataset_type == "tabular":
        blocks.append({"id": "parse", "type": "Microsoft.DPrep.ParseDelimitedBlock",
                       "arguments": {"columnHeadersMode": 3, "fileEncoding": 0, "handleQuotedLineBreaks": False,
                                     "preview": False, "separator": ",", "skipRows": 0, "skipRowsMode": 0}})
    return json.dumps({"blocks": blocks, "inspectors": [], "meta": {"savedDatasetId": ""}}, sort_keys=True)


class DatasetVerbs:
    def _dataset_client(self: AzureMLBackend) -> Any:
        from azureml._restclient.rest_client import RestClient

        context = self.workspace.service_context
        return RestClient(context.get_auth(), base_url=context._get_api_url())

    def register_dataset(self: AzureMLBackend, request: DatasetRegistration) -> RegisteredDataset:
        from azureml._restclient.artifacts_client import ArtifactsClient
        from azureml._restclient.models import DataPathDto, DatasetDefinitionDto, DatasetDto

        sha, files, size, columns, digest = dataset_content(request)
        latest = self._latest_dataset(request.name)
        if latest is not None and (latest.tags or {}).get(SHA_TAG) == sha \
                and (latest.dataset_type or "").lower() == request.dataset_type:
            return self._to_dataset(latest, reused=True, files=files, columns=columns, size=size)
        ws = self.workspace
        ref = self.ref
        if request.path is not None and digest is not None:
            # One container per content: a retried upload overwrites the same names.
            container = f"mlops-ci-{sha[:32]}"
            names = [e.path for e in digest.entries]
            client = ArtifactsClient(ws.service_context)
            self.call(f"Uploading {len(names)} file(s) of dataset {request.name}",
                      lambda: client.upload_files([str(e.source) for e in digest.entries], "LocalUpload", container,
                                                  names=names))
            relative = f"LocalUpload/{container}/{request.path.name}"
            source: dict[str, Any] = {"datastoreName": ARTIFACT_DATASTORE, "relativePath": relative,
                                      "resourceGroup": ref.resource_group, "subscription": ref.subscription_id,
                                      "workspaceName": ref.workspace_name}
            path = DataPathDto(datastore_name=ARTIFACT_DATASTORE, relative_path=relative)
        else:
            source = {"httpUrl": request.url}
            path = DataPathDto(http_url=request.url)
        dto = DatasetDto(
            name=request.name, description=request.description or None, dataset_type=TYPE_NAMES[request.dataset_type],
            tags={**request.tags, SHA_TAG: sha}, is_visible=True,
            latest=DatasetDefinitionDto(dataflow=dataflow(request, source), data_path=path,
                                        properties={"mlops-ci.columns": list(columns)} if columns else None))
        client = self._dataset_client()
        registered = self.call(f"Registering dataset {request.name}", lambda: client.dataset.register(
            ref.subscription_id, ref.resource_group, ref.workspace_name, dataset_dto=dto, register_as_pending=False,
            if_exists_ok=True, update_definition_if_exists=True))
        return self._to_dataset(registered, reused=False, files=files, columns=columns, size=size, url=request.url)

    def _latest_dataset(self: AzureMLBackend, name: str, version: int | None = None) -> Any:
        client = self._dataset_client()
        ref = self.ref

        def lookup() -> Any:
            try:
                return client.dataset.get_dataset_by_name(
                    ref.subscription_id, ref.resource_group, ref.workspace_name, name,
                    version_id=str(version) if version is not None else None)
            except Exception as exc:
                if sdk.http_status(exc) == 404:
                    return None
                raise

        return self.call(f"Looking up dataset {name}", lookup)

    def _to_dataset(self: AzureMLBackend, dto: Any, *, reused: bool, files: tuple[str, ...] = (),
                    columns: tuple[str, ...] = (), size: int = 0, url: str = "") -> RegisteredDataset:
        tags = dict(dto.tags or {})
        latest = dto.latest
        path = getattr(latest, "data_path", None)
        if not columns and latest is not None and latest.properties:
            columns = tuple(latest.properties.get("mlops-ci.columns") or ())
        return RegisteredDataset(
            name=dto.name, version=int(latest.version_id) if latest is not None and latest.version_id else 1,
            dataset_type=(dto.dataset_type or "").lower(), reused=reused, sha256=tags.get(SHA_TAG, ""),
            url=url or (getattr(path, "http_url", None) or ""), description=dto.description or "",
            tags={k: v for k, v in tags.items() if k != SHA_TAG},
            created_at=latest.created_time.isoformat() if latest is not None and latest.created_time else "",
            files=files, columns=columns, size=size)

    def get_dataset(self: AzureMLBackend, name: str, version: int | None = None) -> RegisteredDataset:
        found = self._latest_dataset(name, version)
        if found is None:
            what = f"Dataset '{name}'" + (f" version {version}" if version is not None else "")
            raise ResourceNotFound("dataset", f"{what} is not registered in workspace {self.ref.workspace_name}.",
                                   fix="Register it first with register-dataset.")
        return self._to_dataset(found, reused=False)

    def list_datasets(self: AzureMLBackend, name: str | None = None) -> list[RegisteredDataset]:
        if name is not None:
            found = self._latest_dataset(name)
            return [self._to_dataset(found, reused=False)] if found is not None else []
        client = self._dataset_client()
        ref = self.ref
        page = self.call("Listing datasets", lambda: client.dataset.list(
            ref.subscription_id, ref.resource_group, ref.workspace_name))
        return [self._to_dataset(dto, reused=False) for dto in (getattr(page, "value", None) or [])]
