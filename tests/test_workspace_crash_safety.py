"""Real processes against one local workspace: concurrent registrations, and registrations killed midway."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}


def _register(cwd: Path, model: Path, name: str = "wine") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlops_ci", "register-model", "--backend", "local", "--workspace-dir", "ws",
         "--model-path", str(model), "--model-name", name, "--json"],
        cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _rows(cwd: Path) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(cwd / "ws" / "workspace.db")
    try:
        return conn.execute("SELECT version, sha256, layout FROM models WHERE name = 'wine' ORDER BY version").fetchall()
    finally:
        conn.close()


def _check_consistent(cwd: Path) -> list[int]:
    """Every version is complete: consecutive numbers, each object present with the content its name says."""
    rows = _rows(cwd)
    versions = [row[0] for row in rows]
    assert versions == list(range(1, len(versions) + 1))
    for _version, sha, layout in rows:
        for _path, object_sha, size in json.loads(layout):
            obj = cwd / "ws" / "objects" / object_sha[:2] / object_sha[2:]
            assert obj.stat().st_size == size
            assert hashlib.sha256(obj.read_bytes()).hexdigest() == object_sha == sha
    return versions


def test_eight_processes_get_eight_distinct_consecutive_versions(tmp_path: Path) -> None:
    models = []
    for index in range(8):
        path = tmp_path / f"model-{index}.onnx"
        path.write_bytes(os.urandom(2 << 20) + bytes([index]))
        models.append(path)
    procs = [_register(tmp_path, model) for model in models]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(int(r["model-version"]) for r in results) == list(range(1, 9))
    assert {r["model-sha256"] for r in results} == {hashlib.sha256(m.read_bytes()).hexdigest() for m in models}
    assert _check_consistent(tmp_path) == list(range(1, 9))


def test_killed_while_waiting_for_the_write_lock_leaves_no_version(tmp_path: Path) -> None:
    first = tmp_path / "first.onnx"
    first.write_bytes(b"v1")
    first_proc = _register(tmp_path, first)
    first_proc.communicate(timeout=60)
    assert first_proc.returncode == 0
    model = tmp_path / "model.onnx"
    model.write_bytes(os.urandom(1 << 20))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    blocker = sqlite3.connect(tmp_path / "ws" / "workspace.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the registration can copy its content but not commit
    proc = _register(tmp_path, model)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ws" / "objects" / sha[:2] / sha[2:]).exists():
            assert time.monotonic() < deadline and proc.poll() is None, "the content was never stored"
            time.sleep(0.02)
        time.sleep(0.2)
    finally:
        proc.kill()
        proc.communicate(timeout=10)
        blocker.execute("ROLLBACK")
        blocker.close()
    assert _check_consistent(tmp_path) == [1]
    after = _register(tmp_path, model)
    out, err = after.communicate(timeout=60)
    assert after.returncode == 0, err
    assert json.loads(out)["model-version"] == "2"
    assert _check_consistent(tmp_path) == [1, 2]


def test_killed_at_random_points_never_leaves_a_partial_version(tmp_path: Path) -> None:
    rng = random.Random(1234)
    for attempt in range(8):
        model = tmp_path / f"model-{attempt}.onnx"
        model.write_bytes(os.urandom(24 << 20))
        proc = _register(tmp_path, model)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        _check_consistent(tmp_path)
    final = tmp_path / "final.onnx"
    final.write_bytes(b"final")
    proc = _register(tmp_path, final)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    versions = _check_consistent(tmp_path)
    assert json.loads(out)["model-version"] == str(versions[-1])
    leftovers = list((tmp_path / "ws" / "tmp").iterdir()) if (tmp_path / "ws" / "tmp").exists() else []
    assert leftovers == [], "temporary copies of killed processes are swept"
