"""register-model and register-dataset on the azureml backend, end to end through main() against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


def test_register_model_then_reuse_then_force(azure_step: AzureStep, model_path: Path) -> None:
    first = azure_step.action("register-model", model_path=str(model_path), model_name="wine",
                              model_tags="stage=dev", model_framework="Onnx")
    assert first.status == 0, first.stdout + first.stderr
    assert first.outputs["model-version"] == "1" and first.outputs["model-reused"] == "false"
    assert first.outputs["backend"] == "azureml"
    again = azure_step.action("register-model", model_path=str(model_path), model_name="wine")
    assert again.outputs["model-version"] == "1" and again.outputs["model-reused"] == "true", again.stdout
    forced = azure_step.action("register-model", model_path=str(model_path), model_name="wine",
                               force_new_version="true")
    assert forced.outputs["model-version"] == "2"
    model = azure_step.emulator.state.models["wine:1"]
    assert model["kvTags"]["mlops-ci.sha256"] == first.outputs["model-sha256"]
    assert model["kvTags"]["stage"] == "dev" and model["kvTags"]["github.sha"]
    assert "Registered `wine.onnx` as model `wine` version **1**" in first.summary
    assert_only_azure(azure_step.emulator)
    assert_no_canary(azure_step.emulator, first, again, forced)
