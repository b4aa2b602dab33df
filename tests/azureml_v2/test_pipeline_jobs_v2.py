"""publish-pipeline with a v2 pipeline job YAML: validated by azure-ai-ml's loader, deployed under a batch endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azure_emulator.arm_v2 import online_scoring_host
from tests.azure_emulator.emulator import AzureEmulator
from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure
from tests.azureml_v2.conftest import SDK_WARNINGS
from tests.harness import Step

pytestmark = SDK_WARNINGS

# Paths in a v2 job YAML are relative to the file (as `az ml job create` reads them), not the working directory.
JOB_YAML = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
display_name: train-pipeline
description: prepares and trains
experiment_name: from-the-yaml
settings:
  default_compute: azureml:cpu-cluster
  continue_on_step_failure: false
inputs:
  learning_rate: 0.1
outputs:
  model_dir:
    type: uri_folder
jobs:
  prep:
    type: command
    code: ./src
    command: python prep.py --lr ${{inputs.lr}} --out ${{outputs.out}}
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
    inputs:
      lr: ${{parent.inputs.learning_rate}}
    outputs:
      out: ${{parent.outputs.model_dir}}
  train:
    type: command
    code: ./src
    command: python train.py --data ${{inputs.data}}
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest
    inputs:
      data: ${{parent.jobs.prep.outputs.out}}
"""


def write_job(text: str = JOB_YAML) -> Path:
    folder = Path.cwd() / "pipelines"
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / "prep.py").write_text("print('prep')\n")
    (folder / "src" / "train.py").write_text("print('train')\n")
    (folder / "job.yml").write_text(text)
    return folder / "job.yml"


def test_publish_a_v2_pipeline_job_then_trigger_it(v2_step: AzureStep) -> None:
    emulator = v2_step.emulator
    emulator.create_aml_compute("cpu-cluster")
    write_job()
    published = v2_step.action("publish-pipeline", pipeline_yaml="pipelines/job.yml", pipeline_name="train",
                               endpoint_name="train-endpoint")
    assert published.status == 0, published.stdout + published.stderr
    out = published.outputs
    assert out["pipeline-version"] == "1" and out["endpoint-name"] == "train-endpoint"
    assert out["pipeline-id"].endswith("/batchEndpoints/train-endpoint/deployments/train-1")
    spec = emulator.v2.assets["components"]["train"]["1"]["properties"]["componentSpec"]
    assert sorted(spec["jobs"]) == ["prep", "train"]
    assert spec["inputs"]["learning_rate"]["type"] == "number" and spec["outputs"]["model_dir"]["type"] == "uri_folder"
    assert spec["jobs"]["train"]["inputs"]["data"]["value"] == "${{parent.jobs.prep.outputs.out}}"
    assert spec["description"] == "prepares and trains"
    settings = emulator.v2.batch_deployments[("train-endpoint", "train-1")]["properties"]["deploymentConfiguration"]
    assert settings["settings"] == {"default_compute": "cpu-cluster", "continue_on_step_failure": "false"}, settings
    # The YAML's experiment_name has no place in a deployment: reported, not dropped silently.
    assert "::warning title=pipeline YAML::`experiment_name: from-the-yaml`" in published.stdout
    assert "pipeline job `job.yml`" in published.summary

    triggered = v2_step.action("trigger-pipeline", endpoint_name="train-endpoint", experiment_name="nightly",
                               pipeline_parameters="learning_rate=0.3")
    assert triggered.status == 0, triggered.stdout + triggered.stderr
    assert triggered.outputs["run-status"] == "Completed"
    assert emulator.v2.jobs[triggered.outputs["run-id"]]["properties"]["inputs"]["learning_rate"]["value"] == "0.3"
    assert "::group::step prep: Completed" in triggered.stdout and "::group::step train: Completed" in triggered.stdout

    # A failed job: each step's status, and the failing step's own log in its group and the summary.
    emulator.fail("POST", r"^/jobs$", "run_failed", message="out of memory")
    failed = v2_step.action("trigger-pipeline", endpoint_name="train-endpoint", experiment_name="nightly")
    assert failed.status == 1, failed.stdout
    assert "::group::step prep: Completed" in failed.stdout
    train_log = failed.stdout.split("::group::step train: Failed", 1)[1].split("::endgroup::", 1)[0]
    assert "RuntimeError: out of memory" in train_log and "Step train failed with exit code 1" in train_log
    assert "step train failed" in failed.summary and "RuntimeError: out of memory" in failed.summary
    assert_only_azure(emulator, online_scoring_host(emulator, "train-endpoint"))
    assert_no_canary(emulator, *v2_step.results)


@pytest.mark.parametrize(("change", "said"), [
    (("    command: python train.py", "    comand: python train.py"), "`jobs.train.component`"),
    (("${{parent.inputs.learning_rate}}", "${{parent.inputs.rate}}"), "`jobs.prep.inputs.lr`"),
    (("  learning_rate: 0.1\n", "  learning_rate: [0.1]\n"), "`inputs.learning_rate`"),
    (("type: pipeline\n", "type: command\ncommand: echo\n"), "`type`: is 'command'"),
    (("    type: command\n    code: ./src\n    command: python train.py",
      "    type: command\n    compute: azureml:gpu-cluster\n    code: ./src\n    command: python train.py"),
     "`jobs.train.compute` is 'gpu-cluster', which does not exist"),
], ids=["misspelled-key", "unknown-binding", "bad-input-value", "not-a-pipeline", "unknown-compute"])
def test_an_invalid_v2_pipeline_job_names_the_key(v2_step: AzureStep, change: tuple[str, str], said: str) -> None:
    v2_step.emulator.create_aml_compute("cpu-cluster")
    assert change[0] in JOB_YAML
    write_job(JOB_YAML.replace(*change))
    result = v2_step.action("publish-pipeline", pipeline_yaml="pipelines/job.yml", pipeline_name="train",
                            endpoint_name="train-endpoint")
    assert result.status == 2, result.stdout + result.stderr
    assert any(f"::Input 'pipeline-yaml': {said}" in a for a in result.annotations), result.annotations
    assert "Traceback" not in result.stdout + result.stderr
    assert not v2_step.emulator.v2.batch_endpoints and not v2_step.emulator.v2.assets.get("components")


@pytest.mark.parametrize("backend", ["local", "azureml-v1"], ids=["local", "azureml-v1"])
def test_a_v2_pipeline_job_on_v1_or_local_says_which_sdk_reads_it(step: Step, azure_emulator: AzureEmulator,
                                                                  backend: str) -> None:
    write_job()
    azure = AzureStep(step, azure_emulator)
    inputs = azure.inputs() if backend == "azureml-v1" else {"backend": "local"}
    result = step.action("publish-pipeline", pipeline_yaml="pipelines/job.yml", pipeline_name="train",
                         env=azure_emulator.env, **inputs)
    assert result.status == 2, result.stdout + result.stderr
    assert ("`job.yml` is an Azure ML SDK v2 pipeline job YAML (`$schema: https://azuremlschemas.azureedge.net/"
            "latest/pipelineJob.schema.json`), which only azureml-sdk v2 (azure-ai-ml) reads") in result.stdout
    assert "azureml-sdk: v2" in result.stdout
    assert not azure_emulator.requests  # refused before any sign-in
