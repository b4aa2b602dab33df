"""workflows-examples/: lint-clean (actionlint, zizmor, the workflow schema), pinned, least privilege, real inputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_ci import spec
from mlops_ci.tasks import TASKS
from tests.lint_tools import ROOT, actionlint, check_jsonschema, zizmor

EXAMPLES_DIR = ROOT / "workflows-examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yml"))
IDS = [p.name for p in EXAMPLES]
# Third-party actions the examples may use, each pinned to the commit of a released version.
PINS = {"actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")}
BAD_WORKFLOW = """\
on: pull_request
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: some-org/some-action@v1
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found = load(path)["jobs"]
    assert isinstance(found, dict) and found
    return found


def action_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s.get("uses") == "./"]


def test_the_four_examples_and_their_readme_exist() -> None:
    assert IDS == ["external-trigger.yml", "local-preflight.yml", "pull-request.yml", "release.yml"]
    readme = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    for needed in ("id-token: write", "pull-requests: write", "deployments: write", "AZURE_CLIENT_ID",
                   "federated credential", "AZURE_CREDENTIALS"):
        assert needed in readme, needed


def test_actionlint_finds_nothing(tmp_path: Path) -> None:
    assert actionlint(EXAMPLES) == []
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW, encoding="utf-8")
    assert any("untrusted" in str(f["message"]) for f in actionlint([bad])), "actionlint runs and can fail"


def test_zizmor_finds_nothing(tmp_path: Path) -> None:
    assert zizmor([*EXAMPLES, ROOT / "action.yml"]) == []
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_WORKFLOW, encoding="utf-8")
    found = {f["ident"] for f in zizmor([bad])}
    assert {"unpinned-uses", "artipacked", "template-injection"} <= found, found


def test_examples_match_the_workflow_schema(tmp_path: Path) -> None:
    result = check_jsonschema("vendor.github-workflows", EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    timeout-minutes: soon\n    steps: []\n",
                   encoding="utf-8")
    assert check_jsonschema("vendor.github-workflows", [bad]).returncode != 0, "the schema check can fail"


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_third_party_actions_are_pinned_by_commit_with_the_version(path: Path) -> None:
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", path.read_text(encoding="utf-8"), re.M)
    assert uses
    for target, rest in uses:
        if target == "./":
            continue
        action, _, ref = target.partition("@")
        assert action in PINS, f"{action} is not one of the pinned actions"
        sha, version = PINS[action]
        assert ref == sha and rest.strip() == f"# {version}", f"{target}{rest}"


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_least_privilege_and_timeouts(path: Path) -> None:
    assert load(path)["permissions"] == {}
    for name, job in jobs(path).items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict) and permissions, f"{name}: no per-job permissions"
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 120, name
        steps = action_steps(job)
        oidc = any("client-id" in s["with"] and "client-secret" not in s["with"] for s in steps)
        assert (permissions.get("id-token") == "write") == oidc, f"{name}: id-token: write only with OIDC"
        assert set(permissions.values()) <= {"read", "write"} and "write-all" not in str(job)
        comments = any(s["with"].get("pr-comment", "true") != "false" for s in steps)
        if permissions.get("pull-requests") == "write":
            assert comments, f"{name}: pull-requests: write without a comment"


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_every_with_key_is_an_input_of_action_yml(path: Path) -> None:
    declared = spec.INPUTS_BY_NAME  # action.yml is its render (tests/test_action_metadata.py)
    for name, job in jobs(path).items():
        for step in action_steps(job):
            keys = set(step["with"])
            assert keys <= set(declared), f"{name}: unknown inputs {sorted(keys - set(declared))}"
            assert step["with"]["task"] in TASKS, f"{name}: unknown task {step['with']['task']}"
            for value in step["with"].values():
                assert isinstance(value, str), f"{name}: {value!r} must be a string (quote true, false and numbers)"


def test_local_preflight_needs_no_azure() -> None:
    text = (EXAMPLES_DIR / "local-preflight.yml").read_text(encoding="utf-8")
    assert "secrets." not in text and "vars." not in text and "id-token" not in text
    for job in jobs(EXAMPLES_DIR / "local-preflight.yml").values():
        assert all(s["with"]["backend"] == "local" for s in action_steps(job))
