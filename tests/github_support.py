"""Fixtures for the GitHub integration tests: the fake REST API, a pull_request event, and hooks run directly."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_ci.context import TaskResult
from mlops_ci.github import hooks
from mlops_ci.inputs import Inputs
from mlops_ci.runner import Runner
from tests.fakes import github_api
from tests.fakes.github_api import FakeGithub

TOKEN = "ghs_" + "T0kenCanary" * 3
HEAD_SHA = "feedfacecafebeef0123456789abcdef01234567"
MERGE_SHA = "0123456789abcdef0123456789abcdef01234567"
PULL = 17


@pytest.fixture
def github(request: pytest.FixtureRequest) -> Iterator[FakeGithub]:
    # A page of two comments makes every listing paginate, as a long pull request does.
    yield from github_api.running("octo-org/wine-quality", page_size=2)


@pytest.fixture
def pr_env(github: FakeGithub, tmp_path: Path) -> dict[str, str]:
    """The variables and event payload file of a `pull_request` run, pointing at the fake API."""
    github.add_token(TOKEN)
    github.add_pull(PULL, HEAD_SHA)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": PULL, "pull_request": {
        "number": PULL, "head": {"sha": HEAD_SHA, "ref": "feature"}, "base": {"ref": "main"}}}), encoding="utf-8")
    return {
        "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": github.repository, "GITHUB_API_URL": github.url,
        "GITHUB_SERVER_URL": "https://github.example", "GITHUB_SHA": MERGE_SHA, "GITHUB_RUN_ID": "777",
        "GITHUB_WORKFLOW": "pull-request", "GITHUB_REF": f"refs/pull/{PULL}/merge",
    }


@dataclass
class HookRun:
    runner: Runner
    stdout: io.StringIO

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.stdout.getvalue().splitlines() if line.startswith("::warning")]


def hook_run(environ: dict[str, str]) -> HookRun:
    stdout = io.StringIO()
    return HookRun(Runner(environ, stdout, io.StringIO()), stdout)


def run_hooks(environ: dict[str, str], task: str, inputs: dict[str, str], outputs: dict[str, str] | None = None,
              *, error: BaseException | None = None, links: list[tuple[str, str]] | None = None,
              secret_outputs: frozenset[str] = frozenset({"scoring-key"}), mask: str = "") -> HookRun:
    """What run_task does around a task: started, then succeeded with its outputs or failed with its error."""
    run = hook_run(environ)
    run.runner.mask(mask)
    step = hooks.for_task(task, Inputs({"github-token": TOKEN, **inputs}), run.runner, environ, secret_outputs)
    step.started()
    if error is None:
        step.succeeded({"backend": "local", **(outputs or {})}, TaskResult(outputs=outputs or {}, links=links or []))
    else:
        step.failed(error)
    return run
