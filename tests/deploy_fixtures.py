"""Fixtures for the deployment tests: a tiny scoring project, a local backend, and the check that no process outlives."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from mlops_ci.backends.local.backend import LocalBackend
from mlops_ci.backends.local.workspace import LocalWorkspace
from mlops_ci.deployconfig import InferenceConfig, inference_config_from_dict
from mlops_ci.domain import ModelRegistration, RegisteredModel
from mlops_ci.runner import Runner

SCORE_PLAIN = '''\
import json, os

def init():
    global factor
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "factor.txt"), encoding="utf-8") as handle:
        factor = float(handle.read())

def run(raw_data):
    data = json.loads(raw_data)
    if data.get("fail"):
        raise ValueError("asked to fail")
    return {"result": [x * factor for x in data["data"]]}
'''

SCORE_SCHEMA = '''\
import os
from inference_schema.schema_decorators import input_schema
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType

def init():
    global factor
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "factor.txt"), encoding="utf-8") as handle:
        factor = float(handle.read())

@input_schema("data", StandardPythonParameterType([1.0, 2.0]))
def run(data):
    if data == "fail":
        raise ValueError("asked to fail")
    return {"result": [x * factor for x in data]}
'''


@dataclass
class Project:
    """A repository with a score.py folder, config files and sample requests, as a user's would look."""

    root: Path

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def json(self, relpath: str, data: object) -> Path:
        return self.write(relpath, json.dumps(data))


def make_project(root: Path, score: str = SCORE_PLAIN, factor: str = "2") -> Project:
    project = Project(root)
    project.write("src/score.py", score)
    project.write("models/factor.txt", factor)
    project.json("inferenceconfig.json", {"entryScript": "score.py", "sourceDirectory": "src"})
    project.json("sample.json", {"data": [1, 2]})
    return project


def processes_under(marker: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose command line mentions `marker` (a test's temporary folder)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def live_children() -> list[psutil.Process]:
    children = []
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                children.append(child)
        except psutil.NoSuchProcess:
            continue
    return children


def _cleanup(workspace: Path) -> None:
    if (workspace / "workspace.db").exists():
        backend = LocalBackend(LocalWorkspace(workspace), Runner({}))
        for service in backend.list_services():
            backend.delete_service(service.name, timeout=60)


@pytest.fixture
def no_stray_processes(tmp_path: Path) -> Iterator[None]:
    """After the test: delete what it left in its workspaces, then fail if any process it started is still alive."""
    before = {p.pid for p in live_children()}
    yield
    for db in tmp_path.rglob("workspace.db"):
        _cleanup(db.parent)
    stray = processes_under(str(tmp_path)) + [p for p in live_children() if p.pid not in before]
    described = []
    for proc in stray:  # never leave them running, even when the assertion below fails
        try:
            described.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    assert not described, f"processes outlived the test: {described}"


@dataclass
class Deployable:
    backend: LocalBackend
    project: Project
    model: RegisteredModel
    inference: InferenceConfig


@pytest.fixture
def local_backend(tmp_path: Path, no_stray_processes: None) -> LocalBackend:
    return LocalBackend(LocalWorkspace(tmp_path / "workspace"), Runner({}))


def deployable(backend: LocalBackend, root: Path, score: str = SCORE_PLAIN, factor: str = "2") -> Deployable:
    project = make_project(root, score, factor)
    model = backend.register_model(ModelRegistration(path=project.root / "models" / "factor.txt", name="factor"))
    inference = inference_config_from_dict("inference-config", {"entryScript": "score.py", "sourceDirectory": "src"},
                                           base=project.root)
    return Deployable(backend, project, model, inference)
