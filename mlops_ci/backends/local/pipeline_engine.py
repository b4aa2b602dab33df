"""The local pipeline engine: runs one pipeline run's steps as subprocesses, in dependency order, with reuse.

Started detached by submit_pipeline as `python -m mlops_ci.backends.local.pipeline_engine WORKSPACE RUN_ID`, so a
run goes on after the task or the HTTP request that started it has returned."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_ci.backends.local import processes
from mlops_ci.backends.local.pipelines import DDL, now, pipelines_dir, run_dir, step_log_path
from mlops_ci.backends.local.workspace import LocalWorkspace
from mlops_ci.content import sha256_file
from mlops_ci.domain import CANCELED, COMPLETED, FAILED, NOT_STARTED, RUNNING
from mlops_ci.pipelineyaml import PipelineDefinition, Step, definition_from_dict

REUSE_KEY_VERSION = "mlops-ci-reuse-1"
STOP_GRACE_SECONDS = 10.0
START_WAIT_SECONDS = 10.0


@dataclass
class Running:
    step: Step
    step_run_id: str
    proc: subprocess.Popen[bytes]
    outputs: dict[str, str]
    reuse_key: str
    deadline: float | None


@dataclass
class Engine:
    root: Path
    run_id: str
    conn: sqlite3.Connection = field(init=False)
    graph: dict[str, Any] = field(init=False)
    definition: PipelineDefinition = field(init=False)
    parameters: dict[str, str] = field(init=False)
    step_ids: dict[str, str] = field(init=False)
    max_parallel: int = field(init=False)
    finished: queue.Queue[tuple[str, int]] = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    outputs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)  # step → output → {path, sha256}

    def __post_init__(self) -> None:
        workspace = LocalWorkspace(self.root)
        workspace.ensure_tables(DDL)
        self.workspace = workspace
        self.conn = workspace.connect()
        # Status rows are not registry data: losing the last one to a power cut is fine, and NORMAL saves an fsync
        # per write (WAL keeps the database consistent either way).
        self.conn.execute("PRAGMA synchronous = NORMAL")
        # The submitter commits the run right after starting this process: wait for it (bounded), and give up
        # quietly when it never comes (the submitter rolled back).
        deadline = time.monotonic() + START_WAIT_SECONDS
        while (run := self.conn.execute("SELECT * FROM pipeline_runs WHERE id = ?", (self.run_id,)).fetchone()) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"pipeline run {self.run_id} is not in {self.root}")
            time.sleep(0.005)
        self.run_row = run
        graph = self.conn.execute("SELECT graph FROM published_pipelines WHERE id = ?",
                                  (run["pipeline_id"],)).fetchone()["graph"]
        self.graph = json.loads(graph)
        self.definition = definition_from_dict(self.graph["definition"])
        self.parameters = json.loads(run["parameters"])
        self.max_parallel = max(1, int(run["max_parallel"]))
        self.step_ids = {r["step"]: r["id"] for r in self.conn.execute(
            "SELECT step, id FROM pipeline_step_runs WHERE run_id = ?", (self.run_id,))}

    # -- database -------------------------------------------------------------------------------------------
    def write(self, sql: str, args: tuple[Any, ...]) -> int:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            changed = self.conn.execute(sql, args).rowcount
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return changed

    def set_step(self, step: str, **values: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        self.write(f"UPDATE pipeline_step_runs SET {columns} WHERE id = ?", (*values.values(), self.step_ids[step]))

    # -- the run --------------------------------------------------------------------------------------------
    def run(self) -> str:
        # Only a NotStarted run is ours to start: it may have been canceled before this process got going.
        if not self.write("UPDATE pipeline_runs SET status = ?, started_at = ?, pid = ?, pid_start = ? WHERE id = ? "
                          "AND status = ?", (RUNNING, now(), os.getpid(), processes.start_time(os.getpid()),
                                             self.run_id, NOT_STARTED)):
            return str(self.conn.execute("SELECT status FROM pipeline_runs WHERE id = ?",
                                         (self.run_id,)).fetchone()[0])
        status, error = COMPLETED, ""
        pending = [s for s in self.definition.steps]
        running: dict[str, Running] = {}
        done: set[str] = set()
        try:
            while pending or running:
                if self.cancel.is_set():
                    status, error = CANCELED, "The run was canceled."
                    break
                started_any = False
                for step in list(pending):
                    if len(running) >= self.max_parallel:
                        break
                    if not set(self.definition.upstream(step)) <= done:
                        continue
                    pending.remove(step)
                    started_any = True
                    launched = self.start(step)
                    if launched is None:
                        done.add(step.key)  # reused: its outputs are there already
                    else:
                        running[step.key] = launched
                if started_any and not running:
                    continue  # reused steps may have made others ready
                if not running:
                    break
                got = self.wait_one(running)
                if got is None or self.cancel.is_set():
                    continue  # canceled: a step killed by the same signal must not count as a failure
                key, code = got
                item = running.pop(key)
                if self.finish(item, code):
                    done.add(key)
                else:
                    status, error = FAILED, f"Step '{key}' failed with exit status {code}."
                    break
        except Exception as exc:  # noqa: BLE001 - a run must end with a status, whatever broke
            status, error = FAILED, f"The pipeline engine failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            for item in running.values():
                self.stop(item)
            finished = now()
            self.write("UPDATE pipeline_step_runs SET status = ?, finished_at = ? WHERE run_id = ? AND status = ?",
                       (CANCELED, finished, self.run_id, RUNNING))
            self.write("UPDATE pipeline_runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                       (status, finished, error, self.run_id))
        return status

    def wait_one(self, running: dict[str, Running]) -> tuple[str, int] | None:
        while True:
            deadlines = [r.deadline for r in running.values() if r.deadline is not None]
            timeout = 0.5 if not deadlines else max(0.0, min(0.5, min(deadlines) - time.monotonic()))
            try:
                return self.finished.get(timeout=timeout)
            except queue.Empty:
                pass
            if self.cancel.is_set():
                return None
            for key, item in running.items():
                if item.deadline is not None and time.monotonic() > item.deadline:
                    with open(step_log_path(self.root, self.run_id, key), "ab") as log:
                        log.write(b"\n[mlops-ci] the step ran past maxRunDurationSeconds of its runconfig: stopped.\n")
                    self.stop(item)

    # -- one step -------------------------------------------------------------------------------------------
    def inputs_of(self, step: Step) -> dict[str, tuple[str, str]]:
        """input name → (path handed to the script, content sha256)."""
        producers = self.definition.producers()
        refs = {r.name: r for r in self.definition.data_references}
        params = {p.name: p for p in self.definition.parameters}
        result: dict[str, tuple[str, str]] = {}
        for item in step.inputs:
            if item.kind == "step-output":
                producer, output = producers[item.source]
                result[item.name] = (self.outputs[producer][output]["path"], self.outputs[producer][output]["sha256"])
            elif item.kind == "data-reference" and refs[item.source].is_dataset:
                pinned = self.graph["datasets"][item.source]
                from mlops_ci.backends.local.backend import LocalBackend
                from mlops_ci.runner import Runner

                backend = LocalBackend(self.workspace, Runner({}))
                folder = backend.dataset_files(pinned["name"], pinned["version"], run_dir(self.root, self.run_id)
                                               / "datasets")
                result[item.name] = (str(folder), pinned["sha256"])
            else:
                datapath = refs[item.source].datapath if item.kind == "data-reference" else params[item.source].default
                assert datapath is not None and not isinstance(datapath, str | int | float | bool)
                path = self.root / "datastores" / datapath.datastore / datapath.path_on_datastore
                if not path.exists():
                    raise _StepSetupError(f"input '{item.name}' is '{datapath.path_on_datastore}' on datastore "
                                          f"'{datapath.datastore}', which is not at {path}")
                result[item.name] = (str(path), content_sha256(path))
        return result

    def start(self, step: Step) -> Running | None:
        log_path = step_log_path(self.root, self.run_id, step.key)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.set_step(step.key, status=RUNNING, started_at=now())
        try:
            inputs = self.inputs_of(step)
        except _StepSetupError as exc:
            log_path.write_text(f"[mlops-ci] step '{step.key}' cannot start: {exc}.\n", encoding="utf-8")
            self.finished.put((step.key, -1))
            return Running(step, self.step_ids[step.key], _NoProcess(), {}, "", None)
        settings = self.graph["runconfig"].get(step.key, {"env": {}, "max_seconds": None})
        values = {p.name: self.step_parameter(p.value, p.source) for p in step.parameters}
        key = self.reuse_key(step, inputs, values, settings)
        if step.allow_reuse:
            earlier = self.conn.execute(
                "SELECT id, outputs, reused_from FROM pipeline_step_runs WHERE reuse_key = ? AND status = ? "
                "ORDER BY finished_at DESC LIMIT 1", (key, COMPLETED)).fetchone()
            if earlier is not None:
                outputs = json.loads(earlier["outputs"])
                if all(Path(o["path"]).is_dir() for o in outputs.values()):
                    origin = earlier["reused_from"] or earlier["id"]
                    log_path.write_text(f"[mlops-ci] step '{step.key}' reused the outputs of step run {origin}: its "
                                        "script, source, arguments, parameters and inputs are unchanged.\n",
                                        encoding="utf-8")
                    self.outputs[step.key] = outputs
                    self.set_step(step.key, status=COMPLETED, finished_at=now(), reuse_key=key, reused_from=origin,
                                  outputs=json.dumps(outputs, sort_keys=True), exit_code=0)
                    return None
        step_run_id = self.step_ids[step.key]
        outputs = {}
        for out in step.outputs:
            path = pipelines_dir(self.root) / "data" / step_run_id / out.name
            path.mkdir(parents=True, exist_ok=True)
            outputs[out.name] = str(path)
        workdir = run_dir(self.root, self.run_id) / "steps" / step.key
        self.workspace.objects.materialize([tuple(e) for e in self.graph["snapshots"][step.key]["layout"]], workdir)
        argv = [sys.executable, step.script_name, *self.arguments(step, inputs, outputs, values)]
        env = processes.child_environ(
            os.environ, PYTHONUNBUFFERED="1", AZUREML_RUN_ID=step_run_id, AZUREML_ROOT_RUN_ID=self.run_id,
            AZUREML_EXPERIMENT_NAME=self.run_row["experiment_name"], MLOPS_CI_WORKSPACE_DIR=str(self.root),
            **{f"AML_PARAMETER_{name}": value for name, value in values.items()}, **settings["env"])
        with open(log_path, "wb") as log:
            log.write(f"[mlops-ci] step '{step.key}' (step run {step_run_id}): {' '.join(argv[1:])}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(argv, cwd=workdir / "src", env=env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT)
            except OSError as exc:
                log.write(f"[mlops-ci] the step could not start: {exc.strerror}\n".encode())
                self.finished.put((step.key, -1))
                return Running(step, step_run_id, _NoProcess(), outputs, key, None)
        threading.Thread(target=self._wait, args=(step.key, proc), daemon=True).start()
        limit = settings.get("max_seconds")
        return Running(step, step_run_id, proc, outputs, key, time.monotonic() + limit if limit else None)

    def _wait(self, key: str, proc: subprocess.Popen[bytes]) -> None:
        self.finished.put((key, proc.wait()))

    def step_parameter(self, value: object, source: str) -> str:
        from mlops_ci.pipelineyaml import argument_text

        if source:
            return self.parameters[source]
        return argument_text(value)  # type: ignore[arg-type]

    @staticmethod
    def arguments(step: Step, inputs: dict[str, tuple[str, str]], outputs: dict[str, str],
                  values: dict[str, str]) -> list[str]:
        resolved = []
        for arg in step.arguments:
            if arg.kind == "input":
                resolved.append(inputs[arg.value][0])
            elif arg.kind == "output":
                resolved.append(outputs[arg.value])
            elif arg.kind == "parameter":
                resolved.append(values[arg.value])
            else:
                resolved.append(arg.value)
        return resolved

    def reuse_key(self, step: Step, inputs: dict[str, tuple[str, str]], values: dict[str, str],
                  settings: dict[str, Any]) -> str:
        """What Azure hashes to decide reuse: script, source snapshot, arguments, parameters and input contents."""
        logical = []
        for arg in step.arguments:
            if arg.kind == "input":
                logical.append(f"input:{inputs[arg.value][1]}")
            elif arg.kind == "parameter":
                logical.append(f"parameter:{values[arg.value]}")
            else:
                logical.append(f"{arg.kind}:{arg.value}")
        material = {
            "version": REUSE_KEY_VERSION, "python": sys.executable, "script": step.script_name,
            "snapshot": self.graph["snapshots"][step.key]["sha256"], "arguments": logical, "parameters": values,
            "inputs": {name: sha for name, (_path, sha) in inputs.items()}, "outputs": [o.name for o in step.outputs],
            "env": settings["env"],
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def finish(self, item: Running, code: int) -> bool:
        step = item.step.key
        if code != 0:
            self.set_step(step, status=FAILED, finished_at=now(), exit_code=code, reuse_key=item.reuse_key)
            return False
        recorded = {}
        for name, path in item.outputs.items():
            recorded[name] = {"path": path, "sha256": content_sha256(Path(path))}
            freeze(Path(path))
        self.outputs[step] = recorded
        self.set_step(step, status=COMPLETED, finished_at=now(), exit_code=0, reuse_key=item.reuse_key,
                      outputs=json.dumps(recorded, sort_keys=True))
        return True

    def stop(self, item: Running) -> None:
        proc = item.proc
        if proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class _StepSetupError(Exception):
    pass


class _NoProcess:
    """Stands for a step process that never started (its failure is already queued)."""

    returncode = -1

    def poll(self) -> int:
        return -1

    def terminate(self) -> None:
        pass


def content_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's sorted `sha256  relative/path` lines (an empty folder hashes too)."""
    if path.is_file():
        return sha256_file(path)
    lines = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for filename in filenames:
            full = Path(dirpath) / filename
            if full.is_file():
                lines.append(f"{sha256_file(full)}  {full.relative_to(path).as_posix()}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def freeze(path: Path) -> None:
    """A completed step's outputs may be reused by later runs: make its files read-only so no reader changes them."""
    for dirpath, _dirnames, filenames in os.walk(path):
        for filename in filenames:
            full = Path(dirpath) / filename
            with contextlib.suppress(OSError):
                mode = full.lstat().st_mode
                if stat.S_ISREG(mode):
                    os.chmod(full, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def main(argv: list[str]) -> int:
    root, run_id = Path(argv[0]), argv[1]
    engine = Engine(root, run_id)

    def on_term(signum: int, frame: object) -> None:
        engine.cancel.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    status = engine.run()
    return 0 if status in (COMPLETED, CANCELED) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
