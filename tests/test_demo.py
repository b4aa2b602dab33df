"""The README's first command: `mlops-ci demo` runs the whole flow and leaves nothing running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy_fixtures import processes_under

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_and_stops_what_it_started(tmp_path: Path, no_stray_processes: None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    proc = subprocess.run([sys.executable, "-m", "mlops_ci", "demo", "--workdir", str(tmp_path / "demo")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for expected in ("model-reused=false", "dataset-id=wine-data:1", "model-reused=true", "service-state=Healthy",
                     "'predictions': [", "rolled-back=false", "status-code=200", "deleted=true", ": Completed"):
        assert expected in out, expected
    assert "scoring-key=***" in out
    key_lines = [line for line in out.splitlines() if line.startswith("scoring-key=") and line != "scoring-key=***"]
    assert key_lines == [], "the demo never prints a key"
    assert processes_under(str(tmp_path)) == []
    rerun = subprocess.run([sys.executable, "-m", "mlops_ci", "demo", "--workdir", str(tmp_path / "demo")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, "the demo can be run again in the same folder"


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "mlops_ci", "demo", "--workdir", str(tmp_path / "mine")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not made by the demo" in proc.stderr
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep me"
