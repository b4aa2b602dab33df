"""register-model and register-dataset on the azureml backend, end to end through main() against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_ci.runner import parse_output_file
from tests.azureml_v1.conftest import FAST, AzureStep, assert_no_canary, assert_only_azure

ROOT = Path(__file__).resolve().parents[2]

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


def test_entrypoint_registers_on_azureml_as_the_container_does(azure_step: AzureStep, model_path: Path,
                                                              tmp_path: Path) -> None:
    """The real command in its own process: INPUT_* variables, the runner's files, the emulator's proxy and CA."""
    emulator = azure_step.emulator
    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    out.touch()
    summary.touch()
    env = {"PATH": os.environ.get("PATH", ""), **emulator.env, **FAST, "GITHUB_ACTIONS": "true",
           "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
           "INPUT_TASK": "register-model", "INPUT_BACKEND": "azureml",
           "INPUT_AZURE-CREDENTIALS": azure_step.credentials, "INPUT_WORKSPACE-NAME": emulator.workspace_name,
           "INPUT_RESOURCE-GROUP": emulator.resource_group, "INPUT_MODEL-PATH": str(model_path),
           "INPUT_MODEL-NAME": "wine", "INPUT_FORCE-NEW-VERSION": "false"}
    proc = subprocess.run([sys.executable, str(ROOT / "entrypoint.py")], cwd=model_path.parents[1], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = parse_output_file(out.read_text(encoding="utf-8"))
    assert (outputs["backend"], outputs["model-id"], outputs["model-reused"]) == ("azureml", "wine:1", "false")
    assert emulator.state.models["wine:1"]["kvTags"]["mlops-ci.sha256"] == outputs["model-sha256"]
    secret = emulator.client_secret
    masks = [line for line in proc.stdout.splitlines() if line.startswith("::add-mask::")]
    assert any(secret in line for line in masks), "the secret was never masked"
    leaks = [line[:80] for line in proc.stdout.splitlines() if secret in line and not line.startswith("::add-mask::")]
    assert not leaks and secret not in proc.stderr
    assert secret not in out.read_text(encoding="utf-8") and secret not in summary.read_text(encoding="utf-8")
    assert "mlops-ci `register-model`" in summary.read_text(encoding="utf-8")
    assert_only_azure(emulator)
