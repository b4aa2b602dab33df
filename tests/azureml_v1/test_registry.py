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


def test_register_several_models_in_one_step(azure_step: AzureStep, model_path: Path) -> None:
    scaler = model_path.parent / "scaler.pkl"
    scaler.write_bytes(b"scaler-bytes")
    both = azure_step.action("register-model", model_path=f"{model_path}\n{scaler}", model_name="wine\nscaler")
    assert both.status == 0, both.stdout + both.stderr
    assert both.outputs["model-ids"] == "wine:1,scaler:1" and both.outputs["model-reused"] == "false,false"
    state = azure_step.emulator.state.models
    assert state["scaler:1"]["kvTags"]["mlops-ci.sha256"] == both.outputs["model-sha256"].split(",")[1]
    again = azure_step.action("register-model", model_path=f"{model_path}\n{scaler}", model_name="wine\nscaler")
    assert again.outputs["model-ids"] == "wine:1,scaler:1" and again.outputs["model-reused"] == "true,true"
    posts = azure_step.emulator.count(method="POST", path_regex=r"/models$")
    bad = azure_step.action("register-model", model_path=f"{model_path}\n{scaler}.missing",
                            model_name="wine\nscaler")
    assert bad.status == 2 and "does not exist" in bad.stdout
    assert azure_step.emulator.count(method="POST", path_regex=r"/models$") == posts
    assert_only_azure(azure_step.emulator)
    assert_no_canary(azure_step.emulator, both, again, bad)


def test_register_dataset_local_folder_then_reuse(azure_step: AzureStep, tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "data"
    folder.mkdir(parents=True)
    (folder / "wine.csv").write_text("alcohol,quality\n12.1,5\n")
    first = azure_step.action("register-dataset", dataset_path=str(folder), dataset_name="wine-train")
    assert first.status == 0, first.stdout + first.stderr
    assert (first.outputs["dataset-version"], first.outputs["dataset-reused"]) == ("1", "false")
    assert "`alcohol`" in first.summary
    again = azure_step.action("register-dataset", dataset_path=str(folder), dataset_name="wine-train")
    assert (again.outputs["dataset-version"], again.outputs["dataset-reused"]) == ("1", "true")
    (folder / "wine.csv").write_text("alcohol,quality\n12.1,5\n13.0,6\n")
    changed = azure_step.action("register-dataset", dataset_path=str(folder), dataset_name="wine-train")
    assert (changed.outputs["dataset-version"], changed.outputs["dataset-reused"]) == ("2", "false")
    uploaded = {path for (_container, path) in azure_step.emulator.state.blobs}
    assert sum(p.endswith("data/wine.csv") for p in uploaded) == 2
    versions = azure_step.emulator.state.datasets["wine-train"]
    assert versions[-1]["latest"]["dataPath"]["datastoreName"] == "workspaceartifactstore"
    assert_only_azure(azure_step.emulator)
    assert_no_canary(azure_step.emulator, first, again, changed)


def test_register_dataset_by_url_is_a_reference(azure_step: AzureStep) -> None:
    url = "https://example.org/data/wine.csv?sv=1"
    result = azure_step.action("register-dataset", dataset_path=url, dataset_name="wine-ref", dataset_type="file")
    assert result.status == 0, result.stdout + result.stderr
    assert result.outputs["dataset-version"] == "1"
    record = azure_step.emulator.state.datasets["wine-ref"][-1]
    assert record["latest"]["dataPath"]["httpUrl"] == url and record["datasetType"] == "file"
    assert "example.org" not in azure_step.emulator.hosts()  # a reference is never downloaded
    again = azure_step.action("register-dataset", dataset_path=url, dataset_name="wine-ref", dataset_type="file")
    assert again.outputs["dataset-reused"] == "true"
