"""Published pipelines, pipeline endpoints and pipeline runs of the local workspace: the pipeline verbs of the port."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.content import FileEntry, listing_sha256, sha256_file
from mlops_ci.domain import (
    CANCELED,
    COMPLETED,
    FAILED,
    NOT_STARTED,
    RUNNING,
    TERMINAL_STATUSES,
    PipelineRun,
    PublishedPipeline,
    StepRun,
)
from mlops_ci.errors import InputError, ServiceError
from mlops_ci.pipelineyaml import PipelineDefinition, argument_text, resolve_parameters

if TYPE_CHECKING:
    from mlops_ci.backends.local.workspace import LocalWorkspace
    from mlops_ci.domain import RegisteredDataset
    from mlops_ci.runner import Runner

DDL = """
CREATE TABLE IF NOT EXISTS published_pipelines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    graph TEXT NOT NULL,
    source_run_id TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_endpoints (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    default_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_endpoint_versions (
    endpoint_id TEXT NOT NULL REFERENCES pipeline_endpoints(id),
    version TEXT NOT NULL,
    pipeline_id TEXT NOT NULL REFERENCES published_pipelines(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, version)
);
CREATE TABLE IF NOT EXISTS pipeline_runs (
    id TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL REFERENCES published_pipelines(id),
    experiment_name TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '{}',
    parameters TEXT NOT NULL DEFAULT '{}',
    max_parallel INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT '',
    finished_at TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    pid_start TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS pipeline_runs_by_experiment ON pipeline_runs (experiment_name, created_at);
CREATE TABLE IF NOT EXISTS pipeline_step_runs (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES pipeline_runs(id),
    step TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT '',
    finished_at TEXT NOT NULL DEFAULT '',
    reuse_key TEXT NOT NULL DEFAULT '',
    reused_from TEXT NOT NULL DEFAULT '',
    outputs TEXT NOT NULL DEFAULT '{}',
    exit_code INTEGER,
    UNIQUE (run_id, step)
);
CREATE INDEX IF NOT EXISTS pipeline_step_runs_by_key ON pipeline_step_runs (reuse_key, status);
"""

EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
SNAPSHOT_LIMIT_BYTES = 300 * 1024 * 1024  # Azure refuses snapshots above 300 MB as well
SNAPSHOT_LIMIT_FILES = 2000
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".venv", ".mypy_cache", ".pytest_cache"})
# A run whose engine has not recorded its pid this long after submission never started.
START_GRACE_SECONDS = 60.0


class PipelineNotFound(InputError):
    """A pipeline, endpoint or run id/name that the workspace does not hold (HTTP 404)."""


def now() -> str:
    from mlops_ci.backends.local.backend import now as _now

    return _now()


def pipelines_dir(root: Path) -> Path:
    return root / "pipelines"


def run_dir(root: Path, run_id: str) -> Path:
    return pipelines_dir(root) / "runs" / run_id


def step_log_path(root: Path, run_id: str, step: str) -> Path:
    return run_dir(root, run_id) / "logs" / f"{step}.log"


def check_experiment_name(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(field_name, f"'{field_name}' is missing: a run needs an experiment name.",
                         fix="Give an experiment name such as practical-ml-experiment-1.")
    if not EXPERIMENT_NAME.match(value):
        raise InputError(field_name, f"'{field_name}' is not a valid experiment name.",
                         fix="Use 1 to 255 letters, digits, '_' or '-', starting with a letter or digit.")
    return value


def snapshot(input_name: str, path_label: str, source: Path) -> tuple[str, list[tuple[str, str, int]],
                                                                     list[FileEntry]]:
    """The source directory's files as Azure snapshots them at publish time: (sha256, layout, entries)."""
    entries: list[FileEntry] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            if full.is_symlink() and not full.resolve().is_relative_to(source.resolve()):
                raise InputError(input_name, f"`{path_label}` holds '{full.relative_to(source)}', a link that points "
                                 "outside the folder.", fix="Replace the link with the file itself.")
            if not full.is_file() or filename.endswith(".pyc"):
                continue
            stat = full.stat()
            total += stat.st_size
            if total > SNAPSHOT_LIMIT_BYTES or len(entries) >= SNAPSHOT_LIMIT_FILES:
                raise InputError(input_name, f"`{path_label}` is larger than a step snapshot may be (300 MB or 2000 "
                                 "files).", fix="Point source_directory at a folder that holds only the step's code.")
            relpath = f"src/{full.relative_to(source).as_posix()}"
            entries.append(FileEntry(relpath, sha256_file(full), stat.st_size, full, stat.st_mtime_ns))
    return listing_sha256(tuple(entries), "src"), [(e.path, e.sha256, e.size) for e in entries], entries


def runconfig_settings(path: Path, label: str) -> dict[str, Any]:
    """What the local engine takes from a RunConfiguration YAML: environment variables and the run's time limit."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        raise InputError("pipeline-yaml", f"`{label}` names '{path.name}', which is not a valid run configuration "
                         "YAML.", fix="Fix the file, or remove the runconfig key.") from None
    if not isinstance(data, dict):
        raise InputError("pipeline-yaml", f"`{label}` names '{path.name}', which is not a YAML mapping.",
                         fix="Save it with RunConfiguration.save(), or remove the runconfig key.")
    env: dict[str, str] = {}
    environment = data.get("environment") if isinstance(data.get("environment"), dict) else {}
    for source in (data.get("environmentVariables"), environment.get("environmentVariables")):
        if isinstance(source, dict):
            env.update({str(k): str(v) for k, v in source.items()})
    limit = data.get("maxRunDurationSeconds")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise InputError("pipeline-yaml", f"`{label}` has maxRunDurationSeconds '{limit}', which is not a positive "
                         "whole number.", fix="Write a number of seconds, or remove it.")
    return {"env": env, "max_seconds": limit}


class LocalPipelines:
    """Mixed into LocalBackend: publishing, submitting and following pipeline runs on the local workspace."""

    workspace: LocalWorkspace
    runner: Runner
    _pipeline_tables_ready = False

    if TYPE_CHECKING:  # provided by LocalBackend
        def get_dataset(self, name: str, version: int | None = None) -> RegisteredDataset: ...

    def _pipeline_tables(self) -> None:
        if not self._pipeline_tables_ready:
            self.workspace.ensure_tables(DDL)
            self._pipeline_tables_ready = True

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread, kept open: a trigger must answer in milliseconds, and opening (and closing the
        # last connection, which checkpoints the WAL) costs more than the insert itself.
        local = self.__dict__.setdefault("_pipeline_connections", threading.local())
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = self.workspace.connect()
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        yield self._connection()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.workspace.transaction(self._connection()) as conn:
            yield conn

    # -- publishing -----------------------------------------------------------------------------------------
    def publish_pipeline(self, definition: PipelineDefinition, *, name: str, description: str = "",
                         version: str = "", endpoint_name: str = "") -> PublishedPipeline:
        self._pipeline_tables()
        graph = {"definition": json.loads(definition.to_json()), "snapshots": {}, "runconfig": {}, "datasets": {}}
        for step in definition.steps:
            label = f"pipeline.steps.{step.key}.source_directory"
            sha, layout, entries = snapshot("pipeline-yaml", label, step.source_directory)
            for entry in entries:
                self.workspace.objects.add(entry)
            graph["snapshots"][step.key] = {"sha256": sha, "layout": layout}
            if step.runconfig is not None:
                graph["runconfig"][step.key] = runconfig_settings(step.runconfig, f"pipeline.steps.{step.key}.runconfig")
        for ref in definition.data_references:
            if ref.is_dataset:
                graph["datasets"][ref.name] = self._pin_dataset(ref.name, ref.dataset_name, ref.dataset_id)
        return self._publish_graph(graph, name=name, description=description or definition.description,
                                   version=version, endpoint_name=endpoint_name, source_run_id="")

    def publish_pipeline_from_run(self, run_id: str, *, experiment_name: str, name: str, description: str = "",
                                  version: str = "", endpoint_name: str = "") -> PublishedPipeline:
        self._pipeline_tables()
        with self._read() as conn:
            row = conn.execute("SELECT r.experiment_name, p.graph, p.description FROM pipeline_runs r JOIN "
                               "published_pipelines p ON p.id = r.pipeline_id WHERE r.id = ?", (run_id,)).fetchone()
        if row is None or row["experiment_name"] != experiment_name:
            where = f"experiment '{experiment_name}'"
            raise PipelineNotFound("run-id", f"Pipeline run '{run_id}' is not a run of {where} in the local workspace.",
                                   fix="Check run-id and experiment-name (`mlops-ci runs list` shows them).")
        return self._publish_graph(json.loads(row["graph"]), name=name, description=description or row["description"],
                                   version=version, endpoint_name=endpoint_name, source_run_id=run_id)

    def _pin_dataset(self, ref_name: str, dataset_name: str, dataset_id: str) -> dict[str, Any]:
        """Azure resolves `dataset_name` to the latest version when the pipeline is built: the version is pinned."""
        if dataset_id:
            name, _, number = dataset_id.partition(":")
            if not number.isdigit():
                raise InputError("pipeline-yaml", f"`pipeline.data_references.{ref_name}.dataset_id` is "
                                 f"'{dataset_id}', which is not a local dataset id.", fix="Write NAME:VERSION.")
            dataset = self.get_dataset(name, int(number))
        else:
            dataset = self.get_dataset(dataset_name)
        if not dataset.files:
            raise InputError("pipeline-yaml", f"`pipeline.data_references.{ref_name}` names dataset '{dataset.id}', "
                             "a URL reference the local engine cannot hand to a step as files.",
                             fix="Register the data from local files for local pipeline runs.")
        return {"name": dataset.name, "version": dataset.version, "sha256": dataset.sha256}

    def _publish_graph(self, graph: dict[str, Any], *, name: str, description: str, version: str,
                       endpoint_name: str, source_run_id: str) -> PublishedPipeline:
        from mlops_ci.backends.local import server

        base = server.ensure_running(self.workspace.root, self.runner)
        pipeline_id = str(uuid.uuid4())
        with self._tx() as conn:
            endpoint = None
            if endpoint_name:
                endpoint = conn.execute("SELECT * FROM pipeline_endpoints WHERE name = ?", (endpoint_name,)).fetchone()
            if not version:
                version = str(_next_version(conn, name, endpoint["id"] if endpoint else None))
            if endpoint is not None and conn.execute(
                    "SELECT 1 FROM pipeline_endpoint_versions WHERE endpoint_id = ? AND version = ?",
                    (endpoint["id"], version)).fetchone():
                raise InputError("pipeline-version", f"Pipeline endpoint '{endpoint_name}' already has a version "
                                 f"'{version}'.", fix="Give a new pipeline-version, or leave it empty to number it.")
            created = now()
            conn.execute("INSERT INTO published_pipelines (id, name, version, description, graph, source_run_id, "
                         "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (pipeline_id, name, version, description, json.dumps(graph, sort_keys=True), source_run_id,
                          created))
            if endpoint_name:
                if endpoint is None:
                    endpoint_id = str(uuid.uuid4())
                    conn.execute("INSERT INTO pipeline_endpoints (id, name, default_version, created_at) "
                                 "VALUES (?, ?, ?, ?)", (endpoint_id, endpoint_name, version, created))
                else:
                    endpoint_id = endpoint["id"]
                    conn.execute("UPDATE pipeline_endpoints SET default_version = ? WHERE id = ?",
                                 (version, endpoint_id))
                conn.execute("INSERT INTO pipeline_endpoint_versions (endpoint_id, version, pipeline_id, created_at) "
                             "VALUES (?, ?, ?, ?)", (endpoint_id, version, pipeline_id, created))
        published = self.get_published_pipeline(pipeline_id, base_url=base)
        if endpoint_name:
            return self._with_endpoint(published, endpoint_name, base)
        return published

    # -- reading published pipelines ------------------------------------------------------------------------
    def get_published_pipeline(self, pipeline_id: str, *, base_url: str = "") -> PublishedPipeline:
        from mlops_ci.backends.local import server

        self._pipeline_tables()
        with self._read() as conn:
            row = conn.execute("SELECT * FROM published_pipelines WHERE id = ?", (pipeline_id,)).fetchone()
        if row is None:
            raise PipelineNotFound("pipeline-id", f"Published pipeline '{pipeline_id}' is not in the local workspace.",
                                   fix="Use the pipeline-id output of publish-pipeline.")
        definition = PipelineDefinition.from_json(json.dumps(json.loads(row["graph"])["definition"]))
        base = base_url or server.base_url(self.workspace.root)
        return PublishedPipeline(
            id=row["id"], name=row["name"], version=row["version"], description=row["description"],
            endpoint=server.pipeline_url(base, row["id"]), created_at=row["created_at"],
            steps=tuple(s.key for s in definition.steps), edges=definition.edges(),
            parameters={p.name: "" if p.default is None else
                        (p.default if isinstance(p.default, str) else json.dumps(p.default, default=str))
                        for p in definition.parameters})

    def get_pipeline_endpoint(self, name: str, *, version: str = "") -> PublishedPipeline:
        self._pipeline_tables()
        with self._read() as conn:
            endpoint = conn.execute("SELECT * FROM pipeline_endpoints WHERE name = ?", (name,)).fetchone()
            if endpoint is None:
                known = [r[0] for r in conn.execute("SELECT name FROM pipeline_endpoints ORDER BY name LIMIT 20")]
                raise PipelineNotFound("endpoint-name", f"Pipeline endpoint '{name}' is not in the local workspace.",
                                       fix=("Endpoints: " + ", ".join(known) + ".") if known else
                                       "Publish with publish-pipeline and endpoint-name first.")
            wanted = version or endpoint["default_version"]
            row = conn.execute("SELECT pipeline_id FROM pipeline_endpoint_versions WHERE endpoint_id = ? AND "
                               "version = ?", (endpoint["id"], wanted)).fetchone()
            versions = [r[0] for r in conn.execute("SELECT version FROM pipeline_endpoint_versions WHERE "
                                                   "endpoint_id = ? ORDER BY created_at", (endpoint["id"],))]
        if row is None:
            raise PipelineNotFound("pipeline-version", f"Pipeline endpoint '{name}' has no version '{wanted}'.",
                                   fix="Its versions: " + ", ".join(versions) + ".")
        return self._with_endpoint(self.get_published_pipeline(row["pipeline_id"]), name)

    def _endpoint_id(self, name: str) -> str:
        with self._read() as conn:
            row = conn.execute("SELECT id FROM pipeline_endpoints WHERE name = ?", (name,)).fetchone()
        return str(row["id"]) if row else ""

    def _with_endpoint(self, published: PublishedPipeline, endpoint_name: str, base: str = "") -> PublishedPipeline:
        from dataclasses import replace

        from mlops_ci.backends.local import server

        url = server.endpoint_url(base or server.base_url(self.workspace.root), self._endpoint_id(endpoint_name))
        return replace(published, endpoint_name=endpoint_name, endpoint_url=url)

    def resolve_endpoint_id(self, endpoint_id: str, version: str = "") -> PublishedPipeline:
        """The pipeline an endpoint id (from its URL) submits: its default version, or the one asked for."""
        self._pipeline_tables()
        with self._read() as conn:
            row = conn.execute("SELECT name FROM pipeline_endpoints WHERE id = ?", (endpoint_id,)).fetchone()
        if row is None:
            raise PipelineNotFound("endpoint", f"Pipeline endpoint '{endpoint_id}' is not in the local workspace.",
                                   fix="Use the pipeline-endpoint output of publish-pipeline.")
        return self.get_pipeline_endpoint(row["name"], version=version)

    # -- runs -----------------------------------------------------------------------------------------------
    def submit_pipeline(self, pipeline_id: str, *, experiment_name: str,
                        parameters: Mapping[str, object] | None = None, description: str = "",
                        tags: Mapping[str, str] | None = None, max_parallel_steps: int | None = None,
                        parameters_field: str = "pipeline-parameters",
                        experiment_field: str = "experiment-name") -> PipelineRun:
        from mlops_ci.backends.local import processes

        self._pipeline_tables()
        check_experiment_name(experiment_field, experiment_name)
        with self._read() as conn:
            row = conn.execute("SELECT graph FROM published_pipelines WHERE id = ?", (pipeline_id,)).fetchone()
        if row is None:
            raise PipelineNotFound("pipeline-id", f"Published pipeline '{pipeline_id}' is not in the local workspace.",
                                   fix="Use the pipeline-id output of publish-pipeline.")
        definition = PipelineDefinition.from_json(json.dumps(json.loads(row["graph"])["definition"]))
        values = resolve_parameters(definition, dict(parameters or {}), parameters_field)
        max_parallel = max_parallel_steps or os.cpu_count() or 1
        run_id = str(uuid.uuid4())
        created = now()
        root = self.workspace.root
        with self._tx() as conn:
            conn.execute("INSERT INTO pipeline_runs (id, pipeline_id, experiment_name, status, description, tags, "
                         "parameters, max_parallel, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (run_id, pipeline_id, experiment_name, NOT_STARTED, description,
                          json.dumps(dict(tags or {}), sort_keys=True),
                          json.dumps({k: argument_text(v) for k, v in values.items()}), max_parallel, created))
            conn.executemany("INSERT INTO pipeline_step_runs (id, run_id, step, position, status) VALUES "
                             "(?, ?, ?, ?, ?)", [(str(uuid.uuid4()), run_id, step.key, position, NOT_STARTED)
                                                 for position, step in enumerate(definition.steps)])
            # The engine is started inside the transaction, so the run and its engine's pid are committed together
            # (one fsync, and a canceled or cleaned-up run always knows whom to stop); the engine waits for the commit.
            try:
                proc = processes.spawn_detached(
                    [sys.executable, "-m", "mlops_ci.backends.local.pipeline_engine", str(root), run_id],
                    log_path=run_dir(root, run_id) / "engine.log", env=processes.child_environ(os.environ))
            except OSError as exc:
                raise ServiceError(f"The local pipeline engine for run '{run_id}' could not start: {exc.strerror}.",
                                   fix="Check that the Python interpreter still exists.") from exc
            conn.execute("UPDATE pipeline_runs SET pid = ?, pid_start = ? WHERE id = ?",
                         (proc.pid, processes.start_time(proc.pid), run_id))
        return PipelineRun(id=run_id, pipeline_id=pipeline_id, experiment_name=experiment_name, status=NOT_STARTED,
                           url=self._run_url(run_id), created_at=created, description=description,
                           tags=dict(tags or {}), parameters={k: argument_text(v) for k, v in values.items()})

    def _run_url(self, run_id: str) -> str:
        from mlops_ci.backends.local import server

        return server.run_url(server.base_url(self.workspace.root), run_id)

    def get_pipeline_run(self, run_id: str, *, experiment_name: str = "") -> PipelineRun:
        self._pipeline_tables()
        with self._read() as conn:
            row = conn.execute("SELECT * FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
        if row is None or (experiment_name and row["experiment_name"] != experiment_name):
            raise PipelineNotFound("run-id", f"Pipeline run '{run_id}' is not in the local workspace.",
                                   fix="Check the run id (`mlops-ci runs list` shows the runs).")
        if row["status"] not in TERMINAL_STATUSES and self._engine_lost(row):
            self._finish_run(run_id, FAILED, "The run's engine process ended before the run finished.")
        with self._read() as conn:
            row = conn.execute("SELECT * FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
            steps = conn.execute("SELECT * FROM pipeline_step_runs WHERE run_id = ? ORDER BY position",
                                 (run_id,)).fetchall()
            graph = conn.execute("SELECT graph FROM published_pipelines WHERE id = ?", (row["pipeline_id"],)).fetchone()
        definition = PipelineDefinition.from_json(json.dumps(json.loads(graph["graph"])["definition"]))
        return _run(row, steps, definition, self._run_url(run_id))

    def _engine_lost(self, row: sqlite3.Row) -> bool:
        from mlops_ci.backends.local import processes

        if row["pid"] is None:
            created = _seconds_since(row["created_at"])
            return created > START_GRACE_SECONDS
        return not processes.alive(row["pid"], row["pid_start"])

    def _finish_run(self, run_id: str, status: str, error: str) -> None:
        finished = now()
        with self._tx() as conn:
            changed = conn.execute("UPDATE pipeline_runs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND "
                                   "status NOT IN (?, ?, ?)", (status, error, finished, run_id, *TERMINAL_STATUSES))
            if changed.rowcount:
                conn.execute("UPDATE pipeline_step_runs SET status = ?, finished_at = ? WHERE run_id = ? AND "
                             "status = ?", (CANCELED, finished, run_id, RUNNING))

    def list_pipeline_runs(self, *, experiment_name: str = "", limit: int = 50) -> list[PipelineRun]:
        self._pipeline_tables()
        with self._read() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM pipeline_runs WHERE (? = '' OR experiment_name = ?) ORDER BY created_at DESC LIMIT ?",
                (experiment_name, experiment_name, limit))]
        return [self.get_pipeline_run(run_id) for run_id in ids]

    def get_step_logs(self, run_id: str, step_name: str, *, experiment_name: str = "") -> str:
        run = self.get_pipeline_run(run_id)
        if step_name not in {s.name for s in run.steps}:
            raise PipelineNotFound("step", f"Pipeline run '{run_id}' has no step '{step_name}'.",
                                   fix="Its steps: " + ", ".join(s.name for s in run.steps) + ".")
        path = step_log_path(self.workspace.root, run_id, step_name)
        try:
            with open(path, "rb") as handle:
                handle.seek(max(0, path.stat().st_size - 4 * 1024 * 1024))  # the last 4 MB are plenty to read
                return handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def cancel_pipeline_run(self, run_id: str, *, experiment_name: str = "") -> PipelineRun:
        from mlops_ci.backends.local import processes

        run = self.get_pipeline_run(run_id)
        if run.finished:
            return run
        with self._read() as conn:
            row = conn.execute("SELECT pid, pid_start FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
        if row["pid"]:
            processes.stop_group(row["pid"], row["pid_start"])
        self._finish_run(run_id, CANCELED, "The run was canceled.")
        return self.get_pipeline_run(run_id)

    def get_authentication_header(self) -> dict[str, str]:
        from mlops_ci.backends.local import server

        token = server.read_or_create_token(self.workspace.root)
        self.runner.mask(token)
        return {"Authorization": f"Bearer {token}"}


def _next_version(conn: sqlite3.Connection, name: str, endpoint_id: str | None) -> int:
    labels = [r[0] for r in conn.execute("SELECT version FROM published_pipelines WHERE name = ?", (name,))]
    if endpoint_id:
        labels += [r[0] for r in conn.execute("SELECT version FROM pipeline_endpoint_versions WHERE endpoint_id = ?",
                                              (endpoint_id,))]
    return max((int(v) for v in labels if v.isdigit()), default=0) + 1


def _seconds_since(stamp: str) -> float:
    from datetime import datetime

    try:
        return time.time() - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")


def duration(started: str, finished: str) -> float | None:
    from datetime import datetime

    if not started:
        return None
    start = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    end = datetime.fromisoformat(finished.replace("Z", "+00:00")).timestamp() if finished else time.time()
    return max(0.0, end - start)


def _run(row: sqlite3.Row, steps: list[sqlite3.Row], definition: PipelineDefinition, url: str) -> PipelineRun:
    return PipelineRun(
        id=row["id"], pipeline_id=row["pipeline_id"], experiment_name=row["experiment_name"], status=row["status"],
        url=url, created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        description=row["description"], tags=json.loads(row["tags"]), parameters=json.loads(row["parameters"]),
        error=row["error"],
        steps=tuple(StepRun(
            id=s["id"], name=s["step"], status=s["status"], started_at=s["started_at"], finished_at=s["finished_at"],
            duration_seconds=duration(s["started_at"], s["finished_at"]), reused_from=s["reused_from"],
            exit_code=s["exit_code"], depends_on=definition.upstream(definition.step(s["step"])),
        ) for s in steps),
    )


__all__ = ["COMPLETED", "LocalPipelines", "PipelineNotFound"]
