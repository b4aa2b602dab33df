"""The local backend: the registry verbs of the port, on the embedded local workspace."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_ci.backends.local.pipelines import LocalPipelines
from mlops_ci.backends.local.services import LocalServices
from mlops_ci.backends.local.workspace import LocalWorkspace
from mlops_ci.content import Digest, FileEntry, digest_of, files_of
from mlops_ci.domain import DatasetRegistration, ModelRegistration, RegisteredDataset, RegisteredModel
from mlops_ci.errors import InputError, ServiceError
from mlops_ci.tabular import columns_of

if TYPE_CHECKING:
    from mlops_ci.context import Settings
    from mlops_ci.runner import Runner


def open_local_backend(settings: Settings, runner: Runner) -> LocalBackend:
    return LocalBackend(LocalWorkspace(settings.workspace_dir), runner)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalBackend(LocalServices, LocalPipelines):
    name = "local"

    def __init__(self, workspace: LocalWorkspace, runner: Runner) -> None:
        self.workspace = workspace
        self.runner = runner

    # -- models -------------------------------------------------------------------------------------------
    def register_model(self, request: ModelRegistration) -> RegisteredModel:
        digest = digest_of("model-path", request.path)
        layout = [list(item) for item in digest.layout]
        if not request.force_new_version:
            latest = self._latest_model_row(request.name)
            if latest is not None and _same(latest, digest, layout):
                return _model(latest, reused=True)
        self._store(digest)
        with self.workspace.transaction() as conn:
            latest = conn.execute("SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1",
                                  (request.name,)).fetchone()
            if latest is not None and not request.force_new_version and _same(latest, digest, layout):
                return _model(latest, reused=True)  # another process registered the same content meanwhile
            version = (latest["version"] if latest else 0) + 1
            conn.execute(
                "INSERT INTO models (name, version, sha256, layout, size, description, tags, properties, framework,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (request.name, version, digest.sha256, json.dumps(layout), digest.size, request.description,
                 json.dumps(request.tags, sort_keys=True), json.dumps(request.properties, sort_keys=True),
                 request.framework, now()),
            )
            row = conn.execute("SELECT * FROM models WHERE name = ? AND version = ?", (request.name, version)).fetchone()
        return _model(row, reused=False)

    def get_model(self, name: str, version: int | None = None) -> RegisteredModel:
        with self.workspace.reading() as conn:
            if version is None:
                row = conn.execute("SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1",
                                   (name,)).fetchone()
            else:
                row = conn.execute("SELECT * FROM models WHERE name = ? AND version = ?", (name, version)).fetchone()
            known = [r[0] for r in conn.execute("SELECT DISTINCT name FROM models ORDER BY name LIMIT 20")]
        if row is None:
            what = f"Model '{name}'" + (f" version {version}" if version is not None else "")
            raise InputError("model", f"{what} is not registered in the local workspace.",
                             fix=("Registered models: " + ", ".join(known) + ".") if known else
                             "Register it first with the register-model task.")
        return _model(row, reused=False)

    def list_models(self, name: str | None = None) -> list[RegisteredModel]:
        with self.workspace.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM models WHERE (? IS NULL OR name = ?) ORDER BY name, version", (name, name)).fetchall()
        return [_model(row, reused=False) for row in rows]

    def model_layout(self, name: str, version: int) -> list[tuple[str, str, int]]:
        with self.workspace.reading() as conn:
            row = conn.execute("SELECT layout FROM models WHERE name = ? AND version = ?", (name, version)).fetchone()
        if row is None:
            raise InputError("model", f"Model '{name}' version {version} is not registered in the local workspace.",
                             fix="Register it first with the register-model task.")
        return [tuple(item) for item in json.loads(row["layout"])]  # type: ignore[misc]

    def materialize_model(self, name: str, version: int, dest: Path) -> Path:
        """Lay out a model version as Azure does: dest/<name>/<version>/<file or folder>."""
        target = dest / name / str(version)
        self.workspace.objects.materialize(self.model_layout(name, version), target)
        return target

    # -- datasets -----------------------------------------------------------------------------------------
    def register_dataset(self, request: DatasetRegistration) -> RegisteredDataset:
        digest: Digest | None = None
        columns: tuple[str, ...] = ()
        if request.path is not None:
            files = files_of("dataset-path", request.path)
            if request.dataset_type == "tabular":
                columns = columns_of("dataset-path", files)
            digest = digest_of("dataset-path", request.path)
            self._store(digest)
        layout = [list(item) for item in digest.layout] if digest else []
        sha = digest.sha256 if digest else ""
        with self.workspace.transaction() as conn:
            latest = conn.execute("SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1",
                                  (request.name,)).fetchone()
            if latest is not None and latest["dataset_type"] == request.dataset_type and latest["url"] == request.url \
                    and latest["sha256"] == sha and json.loads(latest["layout"]) == layout:
                return _dataset(latest, reused=True)
            version = (latest["version"] if latest else 0) + 1
            conn.execute(
                "INSERT INTO datasets (name, version, dataset_type, sha256, url, layout, columns, size, description,"
                " tags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (request.name, version, request.dataset_type, sha, request.url, json.dumps(layout),
                 json.dumps(list(columns)), digest.size if digest else 0, request.description,
                 json.dumps(request.tags, sort_keys=True), now()),
            )
            row = conn.execute("SELECT * FROM datasets WHERE name = ? AND version = ?",
                               (request.name, version)).fetchone()
        return _dataset(row, reused=False)

    def get_dataset(self, name: str, version: int | None = None) -> RegisteredDataset:
        with self.workspace.reading() as conn:
            if version is None:
                row = conn.execute("SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1",
                                   (name,)).fetchone()
            else:
                row = conn.execute("SELECT * FROM datasets WHERE name = ? AND version = ?",
                                   (name, version)).fetchone()
        if row is None:
            what = f"Dataset '{name}'" + (f" version {version}" if version is not None else "")
            raise InputError("dataset", f"{what} is not registered in the local workspace.",
                             fix="Register it first with the register-dataset task.")
        return _dataset(row, reused=False)

    def list_datasets(self, name: str | None = None) -> list[RegisteredDataset]:
        with self.workspace.reading() as conn:
            rows = conn.execute(
                "SELECT * FROM datasets WHERE (? IS NULL OR name = ?) ORDER BY name, version", (name, name)).fetchall()
        return [_dataset(row, reused=False) for row in rows]

    def dataset_files(self, name: str, version: int, dest: Path) -> Path:
        """Lay out a local dataset version's files under dest/<name>/<version>/ and return that folder."""
        with self.workspace.reading() as conn:
            row = conn.execute("SELECT layout FROM datasets WHERE name = ? AND version = ?", (name, version)).fetchone()
        if row is None:
            raise InputError("dataset", f"Dataset '{name}' version {version} is not registered in the local workspace.",
                             fix="Register it first with the register-dataset task.")
        target = dest / name / str(version)
        self.workspace.objects.materialize([tuple(i) for i in json.loads(row["layout"])], target)  # type: ignore[misc]
        return target

    # -- helpers ------------------------------------------------------------------------------------------
    def _latest_model_row(self, name: str) -> sqlite3.Row | None:
        with self.workspace.reading() as conn:
            row: sqlite3.Row | None = conn.execute(
                "SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        return row

    def _store(self, digest: Digest) -> None:
        for entry in digest.entries:
            def unchanged(entry: FileEntry = entry) -> None:
                now_stat = entry.source.stat()
                if (now_stat.st_size, now_stat.st_mtime_ns) != (entry.size, entry.mtime_ns):
                    raise ServiceError(f"'{entry.path}' changed while it was being registered.",
                                       fix="Register it again once nothing writes to it.")
            self.workspace.objects.add(entry, check=unchanged)


def _same(row: sqlite3.Row, digest: Digest, layout: list[list[object]]) -> bool:
    return bool(row["sha256"] == digest.sha256 and [p[0] for p in json.loads(row["layout"])] == [p[0] for p in layout])


def _model(row: sqlite3.Row, *, reused: bool) -> RegisteredModel:
    layout = json.loads(row["layout"])
    return RegisteredModel(
        name=row["name"], version=row["version"], sha256=row["sha256"], reused=reused,
        description=row["description"], tags=json.loads(row["tags"]), properties=json.loads(row["properties"]),
        framework=row["framework"], created_at=row["created_at"], files=tuple(p[0] for p in layout), size=row["size"],
    )


def _dataset(row: sqlite3.Row, *, reused: bool) -> RegisteredDataset:
    return RegisteredDataset(
        name=row["name"], version=row["version"], dataset_type=row["dataset_type"], reused=reused,
        sha256=row["sha256"], url=row["url"], description=row["description"], tags=json.loads(row["tags"]),
        created_at=row["created_at"], files=tuple(p[0] for p in json.loads(row["layout"])),
        columns=tuple(json.loads(row["columns"])), size=row["size"],
    )
