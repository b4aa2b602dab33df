"""register-model and register-dataset with azureml-sdk v2, end to end through main() against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azure_emulator.arm_v2 import SCHEMA_HOST
from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure
from tests.azureml_v2.conftest import SDK_WARNINGS

pytestmark = SDK_WARNINGS


def test_register_model_then_reuse_then_force(v2_step: AzureStep, model_file: Path) -> None:
    emulator = v2_step.emulator
    first = v2_step.action("register-model", model_path=str(model_file), model_name="wine",
                           model_tags="stage=dev", model_framework="Onnx")
    assert first.status == 0, first.stdout + first.stderr
    assert (first.outputs["model-version"], first.outputs["model-reused"]) == ("1", "false")
    assert "has no field in Azure ML SDK v2 models" in first.stdout  # model-framework is reported, not dropped
    again = v2_step.action("register-model", model_path=str(model_file), model_name="wine")
    assert (again.outputs["model-version"], again.outputs["model-reused"]) == ("1", "true"), again.stdout
    forced = v2_step.action("register-model", model_path=str(model_file), model_name="wine",
                            force_new_version="true")
    assert forced.outputs["model-version"] == "2", forced.stdout + forced.stderr
    record = emulator.v2.assets["models"]["wine"]["1"]["properties"]
    assert record["tags"]["mlops-ci.sha256"] == first.outputs["model-sha256"]
    assert record["tags"]["stage"] == "dev" and record["tags"]["github.sha"]
    assert record["properties"]["mlops-ci.framework"] == "Onnx"
    assert "Registered `wine.onnx` as model `wine` version **1**" in first.summary
    # v2 talks to ARM and blob storage only; the reuse costs a sign-in, the workspace and one version lookup.
    assert emulator.count(host=emulator.api_host) == 0
    assert emulator.count(method="PUT", path_regex=r"/models/wine/versions/") == 2
    assert sum(1 for (_, path) in emulator.state.blobs if path.endswith("wine.onnx")) == 1
    assert_only_azure(emulator)
    assert_no_canary(emulator, first, again, forced)


def test_tabular_folder_becomes_an_mltable_then_reuse(v2_step: AzureStep, tmp_path: Path) -> None:
    emulator = v2_step.emulator
    folder = tmp_path / "repo" / "data"
    folder.mkdir(parents=True)
    (folder / "wine.csv").write_text("alcohol,quality\n12.1,5\n")
    first = v2_step.action("register-dataset", dataset_path=str(folder), dataset_name="wine-train")
    assert first.status == 0, first.stdout + first.stderr
    assert (first.outputs["dataset-version"], first.outputs["dataset-reused"]) == ("1", "false")
    assert "`alcohol`" in first.summary
    again = v2_step.action("register-dataset", dataset_path=str(folder), dataset_name="wine-train")
    assert (again.outputs["dataset-version"], again.outputs["dataset-reused"]) == ("1", "true")
    (folder / "wine.csv").write_text("alcohol,quality\n12.1,5\n13.0,6\n")
    changed = v2_step.action("register-dataset", dataset_path=str(folder), dataset_name="wine-train")
    assert (changed.outputs["dataset-version"], changed.outputs["dataset-reused"]) == ("2", "false")
    record = emulator.v2.assets["data"]["wine-train"]["2"]["properties"]
    assert record["dataType"] == "mltable" and record["dataUri"].startswith("azureml://")
    tables = [blob["data"].decode() for (_, path), blob in emulator.state.blobs.items() if path.endswith("/MLTable")]
    assert len(tables) == 2 and all("read_delimited" in t and "file: ./wine.csv" in t for t in tables)
    assert_only_azure(emulator, SCHEMA_HOST)  # the SDK checks an MLTable file against Azure's published schema
    assert_no_canary(emulator, first, again, changed)


@pytest.mark.parametrize(("kind", "source", "data_type"), [
    ("file", "file", "uri_file"),
    ("file", "folder", "uri_folder"),
    ("file", "https://example.org/data/wine.csv?sv=1", "uri_file"),
    ("tabular", "https://example.org/data/wine.parquet", "mltable"),
], ids=["file-uri_file", "folder-uri_folder", "url-uri_file", "url-tabular-mltable"])
def test_dataset_types_map_to_data_asset_types(v2_step: AzureStep, tmp_path: Path, kind: str, source: str,
                                               data_type: str) -> None:
    emulator = v2_step.emulator
    folder = tmp_path / "repo" / "files"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_text("a\n")
    path = {"file": str(folder / "a.txt"), "folder": str(folder)}.get(source, source)
    result = v2_step.action("register-dataset", dataset_path=path, dataset_name="inputs", dataset_type=kind)
    assert result.status == 0, result.stdout + result.stderr
    record = emulator.v2.assets["data"]["inputs"]["1"]["properties"]
    assert record["dataType"] == data_type
    assert record["tags"]["mlops-ci.dataset-type"] == kind
    if source.startswith("https://"):
        assert "example.org" not in emulator.hosts()  # a reference is never downloaded
        if data_type == "uri_file":
            assert record["dataUri"] == source
    assert_only_azure(emulator, SCHEMA_HOST)
