"""action.yml: generated from spec.py, valid against GitHub's action metadata schema, complete."""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops_ci import action_yml, spec
from tests.lint_tools import ROOT, check_jsonschema

ACTION = ROOT / "action.yml"


def metadata() -> dict[str, object]:
    data = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_action_yml_is_the_render_of_spec() -> None:
    assert ACTION.read_text(encoding="utf-8") == action_yml.render(), (
        "action.yml is out of date: run `python -m mlops_ci.action_yml > action.yml`")


def test_action_yml_matches_the_github_actions_schema(tmp_path: Path) -> None:
    result = check_jsonschema("vendor.github-actions", [ACTION])
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text(encoding="utf-8").replace("using: docker", "using: dokcer"), encoding="utf-8")
    assert check_jsonschema("vendor.github-actions", [broken]).returncode != 0, "the schema check can fail"


def test_every_input_and_output_is_declared_and_described() -> None:
    data = metadata()
    inputs, outputs = data["inputs"], data["outputs"]
    assert isinstance(inputs, dict) and isinstance(outputs, dict)
    assert list(inputs) == [s.name for s in spec.all_inputs()]
    assert list(outputs) == [s.name for s in spec.OUTPUTS]
    for name, entry in {**inputs, **outputs}.items():
        assert entry["description"].strip(), f"{name} has no description"
    assert data["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert data["branding"]["icon"] and data["branding"]["color"]


def test_secret_inputs_have_no_default_but_the_workflow_token() -> None:
    inputs = metadata()["inputs"]
    assert isinstance(inputs, dict)
    for name in spec.SECRET_INPUTS:
        assert inputs[name].get("default", "") in ("", "${{ github.token }}"), name
    # A Docker action gets no token unless the workflow passes one: the default passes the job's own.
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert spec.INPUTS_BY_NAME["github-token"].default == "", "the CLI never sees the expression as a token"
