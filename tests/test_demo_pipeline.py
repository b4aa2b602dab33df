"""The demo's pipeline part: the shipped two-step pipeline runs, trains and registers the model, and stops its server."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from pathlib import Path

import pytest

from mlops_ci.backends.local import processes, server
from mlops_ci.demo import DemoState
from mlops_ci.demo_pipeline import publish_and_trigger
from mlops_ci.pipelineyaml import load_pipeline_yaml
from mlops_ci.runner import Runner

ASSETS = Path(__file__).resolve().parents[1] / "mlops_ci" / "demo_assets" / "wine_pipeline"


def test_shipped_pipeline_yaml_is_valid() -> None:
    definition = load_pipeline_yaml(ASSETS / "pipeline.yml", ASSETS)
    assert [s.key for s in definition.steps] == ["prepare", "train"]
    assert definition.edges() == (("prepare", "train", "prepared_wine"),)


def test_pipeline_demo_trains_and_registers_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_wine = pytest.importorskip("sklearn.datasets").load_wine
    monkeypatch.chdir(tmp_path)
    wine = load_wine()
    data = tmp_path / "wine.csv"
    with open(data, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*wine.feature_names, "target"])
        writer.writerows([*row, target] for row, target in zip(wine.data.tolist(), wine.target.tolist(), strict=True))
    out, err = io.StringIO(), io.StringIO()
    state = DemoState(workdir=tmp_path / "demo", runner=Runner({}, out, err), environ={"PATH": "/usr/bin:/bin"})
    state.workdir.mkdir()
    state.task("Register the wine data set", "register-dataset", dataset_path=str(data), dataset_name="wine-data")
    try:
        publish_and_trigger(state)
    finally:
        stopped = server.stop(state.workspace_dir) if (state.workspace_dir / "server").is_dir() else None
    assert stopped is None, "the demo stops the server it started"
    assert state.outputs["pipeline"]["run-status"] == "Completed", out.getvalue() + err.getvalue()
    text = out.getvalue()
    assert "json={\"ExperimentName\": \"practical-ml-experiment-1\"}); run_id = response.json().get('Id')" in text
    assert f"Pipeline run {state.outputs['pipeline']['run-id']}: Completed" in text
    token = (state.workspace_dir / "server" / "token").read_text().strip()
    assert token not in text + err.getvalue()
    models = state.task("Register the pipeline's model file again", "register-model", model_path=str(next(
        (state.workspace_dir / "pipelines" / "data").glob("*/model/wine.onnx"))), model_name="wine-classifier-pipeline")
    assert models["model-reused"] == "true" and models["model-version"] == "1"
    conn = sqlite3.connect(state.workspace_dir / "workspace.db")
    pid, started = conn.execute("SELECT pid, pid_start FROM pipeline_runs").fetchone()
    conn.close()
    deadline = time.monotonic() + 5  # the engine exits right after writing the run's last status
    while processes.alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not processes.alive(pid, started)
