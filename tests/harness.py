"""Fixtures that run mlops-ci's main() as a workflow step would, with temporary runner files."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_ci.cli import main
from mlops_ci.inputs import env_name
from mlops_ci.runner import parse_output_file


@dataclass
class StepResult:
    status: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    output_file: str
    summary: str

    @property
    def annotations(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(("::error", "::warning", "::notice"))]

    def everything(self) -> str:
        return "\n".join((self.stdout, self.stderr, self.output_file, self.summary))


class Step:
    """One workflow step's environment: the runner's files and variables, inputs as INPUT_* variables."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def base_environ(self, actions: bool) -> dict[str, str]:
        environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.root / "home")}
        if actions:
            environ.update({
                "GITHUB_ACTIONS": "true",
                "GITHUB_REPOSITORY": "octo-org/wine-models",
                "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
                "GITHUB_REF": "refs/heads/main",
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "4242",
                "GITHUB_WORKFLOW": "ci",
                "GITHUB_EVENT_NAME": "push",
            })
        return environ

    def _files(self, environ: dict[str, str]) -> tuple[Path, Path]:
        self.count += 1
        output = self.root / f"output-{self.count}.txt"
        summary = self.root / f"summary-{self.count}.md"
        output.write_text("", encoding="utf-8")
        summary.write_text("", encoding="utf-8")
        environ["GITHUB_OUTPUT"] = str(output)
        environ["GITHUB_STEP_SUMMARY"] = str(summary)
        return output, summary

    def _run(self, argv: list[str], environ: dict[str, str], files: tuple[Path, Path]) -> StepResult:
        stdout, stderr = io.StringIO(), io.StringIO()
        status = main(argv, environ=environ, stdout=stdout, stderr=stderr)
        output_text = files[0].read_text(encoding="utf-8")
        return StepResult(status, stdout.getvalue(), stderr.getvalue(), parse_output_file(output_text), output_text,
                          files[1].read_text(encoding="utf-8"))

    def action(self, task: str | None, *, env: dict[str, str] | None = None, underscore: bool = False,
               **inputs: str) -> StepResult:
        """Run as the Docker action does: no arguments, INPUT_<NAME> variables (hyphens kept)."""
        environ = self.base_environ(actions=True)
        if task is not None:
            environ["INPUT_TASK"] = task
        for key, value in inputs.items():
            name = key.replace("_", "-")
            environ[env_name(name.replace("-", "_") if underscore else name)] = value
        environ.update(env or {})
        return self._run([], environ, self._files(environ))

    def cli(self, *argv: str, env: dict[str, str] | None = None) -> StepResult:
        """Run as a person does on a terminal: outside Actions, but with output files to read the outputs back."""
        environ = self.base_environ(actions=False)
        environ.update(env or {})
        return self._run(list(argv), environ, self._files(environ))


@pytest.fixture
def step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Step:
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    return Step(tmp_path / "runner")


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / "models" / "wine.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"onnx-bytes-v1" * 100)
    return path
