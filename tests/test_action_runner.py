"""entrypoint.py run the way GitHub's runner runs the Docker action on a pull_request event, outputs read as it reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakes.github_api import FakeGithub
from tests.github_support import HEAD_SHA, MERGE_SHA, PULL, TOKEN
from tests.lint_tools import ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def runner_output_file(text: str) -> dict[str, str]:
    """GitHub's runner reading $GITHUB_OUTPUT: `key=value`, or `key<<DELIMITER` … a line equal to DELIMITER."""
    outputs: dict[str, str] = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            key, value = line[:equals], line[equals + 1:]
        elif heredoc >= 0:
            key, delimiter, body = line[:heredoc], line[heredoc + 2:], []
            for item in lines:
                if item == delimiter:
                    break
                body.append(item)
            else:
                raise AssertionError(f"no closing delimiter for {key}")
            value = "\n".join(body)
        else:
            raise AssertionError(f"invalid line in GITHUB_OUTPUT: {line!r}")
        assert key, "empty output name"
        outputs[key] = value
    return outputs


def step_environment(workspace: Path, runner_temp: Path, github_api: str, repository: str,
                     given: dict[str, str]) -> dict[str, str]:
    """What the runner hands the container: INPUT_* from action.yml defaults and `with:`, GITHUB_* variables and files."""
    event = runner_temp / "event.json"
    event.write_text(json.dumps({"action": "opened", "number": PULL, "pull_request": {
        "number": PULL, "head": {"sha": HEAD_SHA}, "base": {"ref": "main"}}}), encoding="utf-8")
    files = {}
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE"):
        path = runner_temp / f"{name.lower()}_{os.getpid()}"
        path.write_text("", encoding="utf-8")
        files[name] = str(path)
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(runner_temp / "home"),
        "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
        "GITHUB_WORKSPACE": str(workspace), "GITHUB_REPOSITORY": repository, "GITHUB_SHA": MERGE_SHA,
        "GITHUB_REF": f"refs/pull/{PULL}/merge", "GITHUB_API_URL": github_api,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_RUN_ID": "99", "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_WORKFLOW": "pull-request", "GITHUB_JOB": "deploy", "GITHUB_ACTION": "__run",
        "RUNNER_TEMP": str(runner_temp), "RUNNER_OS": "Linux", **files,
    }
    for name, spec in ACTION["inputs"].items():
        value = given.get(name, spec.get("default", ""))
        if "${{" in value:
            # The runner evaluates expressions before the container starts; action.yml uses exactly one.
            assert value == "${{ github.token }}", f"input {name}: an expression this test does not evaluate"
            value = TOKEN
        if value or name in given:
            environ[f"INPUT_{name.upper()}"] = value  # the runner keeps hyphens: INPUT_MODEL-PATH
    return environ


def run_entrypoint(environ: dict[str, str], workspace: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "entrypoint.py")], cwd=workspace, env=environ,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    (path / "models").mkdir(parents=True)
    (path / "models" / "wine.onnx").write_bytes(b"onnx-model" * 50)
    return path


def test_pull_request_step_writes_outputs_summary_and_the_comment(github: FakeGithub, workspace: Path,
                                                                  tmp_path: Path) -> None:
    github.add_token(TOKEN)
    github.add_pull(PULL, HEAD_SHA)
    environ = step_environment(workspace, tmp_path, github.url, github.repository,
                               {"task": "register-model", "backend": "local", "model-path": "models/wine.onnx",
                                "model-name": "wine", "model-description": "first line\nsecond line"})
    assert environ["INPUT_PR-COMMENT"] == "true" and environ["INPUT_WORKSPACE-DIR"] == ".mlops-ci"
    result = run_entrypoint(environ, workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = runner_output_file(Path(environ["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))
    assert outputs["model-id"] == "wine:1" and outputs["backend"] == "local" and outputs["model-reused"] == "false"
    assert (workspace / ".mlops-ci").is_dir(), "the local workspace lives in GITHUB_WORKSPACE"
    summary = Path(environ["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "mlops-ci `register-model`" in summary
    [comment] = github.comments(PULL)
    assert "`wine:1`" in comment["body"] and HEAD_SHA[:7] in comment["body"]
    assert f"::add-mask::{TOKEN}" in result.stdout.splitlines()
    shown = result.stdout.replace(f"::add-mask::{TOKEN}", "") + result.stderr + summary + comment["body"]
    assert TOKEN not in shown


def test_multi_line_outputs_use_heredoc_delimiters(github: FakeGithub, workspace: Path, tmp_path: Path) -> None:
    github.add_token(TOKEN)
    github.add_pull(PULL, HEAD_SHA)
    environ = step_environment(workspace, tmp_path, github.url, github.repository,
                               {"task": "register-model", "backend": "local", "model-path": "models/wine.onnx",
                                "model-name": "wine", "pr-comment": "false"})
    # A value with newlines is written the way the runner reads it back, whatever its content.
    from mlops_ci.runner import format_output

    tricky = "line one\nmodel-id=evil\nghadelimiter_x\nlast"
    assert runner_output_file(format_output("notes", tricky)) == {"notes": tricky}
    result = run_entrypoint(environ, workspace)
    assert result.returncode == 0, result.stderr
    assert runner_output_file(Path(environ["GITHUB_OUTPUT"]).read_text(encoding="utf-8"))["model-id"] == "wine:1"
    assert github.requests == []


def test_bad_input_fails_the_step_with_exit_2_and_an_error_annotation(github: FakeGithub, workspace: Path,
                                                                      tmp_path: Path) -> None:
    environ = step_environment(workspace, tmp_path, github.url, github.repository,
                               {"task": "register-model", "backend": "local", "model-path": "models/missing.onnx",
                                "model-name": "wine"})
    result = run_entrypoint(environ, workspace)
    assert result.returncode == 2
    [error] = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert "model-path" in error and "Traceback" not in result.stdout + result.stderr
    assert github.requests == [], "nothing ran, so nothing is reported to the pull request"


@pytest.mark.parametrize("event", ["push", "outside-actions"])
def test_pygithub_is_not_imported_when_nothing_goes_to_github(github: FakeGithub, workspace: Path, tmp_path: Path,
                                                              event: str) -> None:
    environ = step_environment(workspace, tmp_path, github.url, github.repository,
                               {"task": "register-model", "backend": "local", "model-path": "models/wine.onnx",
                                "model-name": "wine"})
    environ["GITHUB_EVENT_NAME"] = "push"
    if event == "outside-actions":
        del environ["GITHUB_ACTIONS"]
    probe = ("import sys; from mlops_ci.cli import main; status = main(); "
             "print('loaded', sorted(m for m in ('github', 'azure.identity', 'azureml') if m in sys.modules)); "
             "raise SystemExit(status)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=workspace, env=environ, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "loaded []" in result.stdout.splitlines()
