"""One table, two SDKs: cases whose behaviour is the same on azureml-sdk v1 and v2, run on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure
from tests.azureml_v2.conftest import SDK_WARNINGS

pytestmark = SDK_WARNINGS

REGISTER_CASES = [
    # (inputs of the second registration, expected version, expected reused)
    ({}, "1", "true"),
    ({"force_new_version": "true"}, "2", "false"),
    ({"model_name": "other"}, "1", "false"),
]


@pytest.mark.parametrize(("second", "version", "reused"), REGISTER_CASES, ids=["same-content", "forced", "new-name"])
def test_register_model_reuses_by_content_hash(any_sdk_step: AzureStep, model_file: Path, second: dict[str, str],
                                               version: str, reused: str) -> None:
    first = any_sdk_step.action("register-model", model_path=str(model_file), model_name="wine")
    assert first.status == 0, first.stdout + first.stderr
    again = any_sdk_step.action("register-model", **{"model_path": str(model_file), "model_name": "wine",
                                                     **second})
    assert again.status == 0, again.stdout + again.stderr
    assert (again.outputs["model-version"], again.outputs["model-reused"]) == (version, reused)
    assert again.outputs["model-sha256"] == first.outputs["model-sha256"]
    assert_only_azure(any_sdk_step.emulator)
    assert_no_canary(any_sdk_step.emulator, first, again)


def test_register_several_models_in_one_step(any_sdk_step: AzureStep, model_file: Path) -> None:
    other = model_file.parent / "scaler.pkl"
    other.write_bytes(b"scaler-bytes")
    paths, names = f"{model_file}\n{other}", "wine\nscaler"
    first = any_sdk_step.action("register-model", model_path=paths, model_name=names)
    assert first.status == 0, first.stdout + first.stderr
    again = any_sdk_step.action("register-model", model_path=paths, model_name=names)
    assert (first.outputs["model-ids"], first.outputs["model-reused"]) == ("wine:1,scaler:1", "false,false")
    assert (again.outputs["model-ids"], again.outputs["model-reused"]) == ("wine:1,scaler:1", "true,true")
    assert_no_canary(any_sdk_step.emulator, first, again)


@pytest.mark.parametrize(("task", "inputs", "status", "said"), [
    ("delete-service", {"service_name": "gone"}, 0, "did not exist: nothing to delete"),
    ("get-logs", {"service_name": "gone"}, 2, "'gone'"),
    ("smoke-test", {"service_name": "gone", "sample_request": "sample.json"}, 2, "'gone'"),
], ids=["delete-missing-is-ok", "logs-of-missing", "smoke-missing"])
def test_missing_services(any_sdk_step: AzureStep, task: str, inputs: dict[str, str], status: int,
                          said: str) -> None:
    Path("sample.json").write_text('{"data": [[1.0]]}')
    result = any_sdk_step.action(task, **inputs)
    assert result.status == status, result.stdout + result.stderr
    assert said in result.stdout + result.summary


def test_a_bad_sdk_value_is_bad_input(v2_step: AzureStep, model_file: Path) -> None:
    result = v2_step.step.action("register-model", env=v2_step.emulator.env,
                                 **{**v2_step.inputs(model_path=str(model_file), model_name="wine"),
                                    "azureml_sdk": "v3"})
    assert result.status == 2, result.stdout
    assert "Input 'azureml-sdk' is 'v3'" in result.stdout and "Use one of: v1, v2." in result.stdout
    assert not v2_step.emulator.requests


def test_v2_through_the_command_line(v2_step: AzureStep, model_file: Path) -> None:
    result = v2_step.cli("register-model", model_path=str(model_file), model_name="wine")
    assert result.status == 0, result.stdout + result.stderr
    assert result.outputs["model-version"] == "1" and "wine" in v2_step.emulator.v2.assets["models"]
