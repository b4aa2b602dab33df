"""publish-pipeline and trigger-pipeline with azureml-sdk v2: a pipeline component deployment under a batch endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azure_emulator.arm_v2 import online_scoring_host
from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure
from tests.azureml_v1.test_pipelines import PIPELINE_YAML
from tests.azureml_v2.conftest import SDK_WARNINGS

pytestmark = SDK_WARNINGS


@pytest.fixture
def pipeline_yaml(v2_step: AzureStep) -> Path:
    root = Path.cwd()
    (root / "steps").mkdir()
    (root / "steps" / "train.py").write_text("print('training')\n")
    (root / "pipeline.yml").write_text(PIPELINE_YAML)
    v2_step.emulator.create_aml_compute("cpu-cluster")
    return root / "pipeline.yml"


def test_publish_under_a_batch_endpoint_then_trigger_by_url_and_by_name(v2_step: AzureStep,
                                                                         pipeline_yaml: Path) -> None:
    emulator = v2_step.emulator
    published = v2_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train",
                               endpoint_name="train-endpoint")
    assert published.status == 0, published.stdout + published.stderr
    out = published.outputs
    host = online_scoring_host(emulator, "train-endpoint")
    assert out["pipeline-version"] == "1" and out["endpoint-name"] == "train-endpoint"
    assert out["pipeline-endpoint"] == f"https://{host}/jobs"
    assert out["pipeline-id"].endswith("/batchEndpoints/train-endpoint/deployments/train-1")
    component = emulator.v2.assets["components"]["train"]["1"]["properties"]["componentSpec"]
    step = component["jobs"]["train"]
    assert step["inputs"]["lr"] == {"job_input_type": "literal", "value": "${{parent.inputs.learning_rate}}"}, step["inputs"]
    assert emulator.v2.batch_endpoints["train-endpoint"]["properties"]["defaults"]["deploymentName"] == "train-1"

    triggered = v2_step.action("trigger-pipeline", pipeline_endpoint=out["pipeline-endpoint"],
                               experiment_name="nightly", pipeline_parameters="learning_rate=0.3")
    assert triggered.status == 0, triggered.stdout + triggered.stderr
    run_id = triggered.outputs["run-id"]
    assert triggered.outputs["run-status"] == "Completed" and run_id in emulator.v2.jobs
    job = emulator.v2.jobs[run_id]["properties"]
    assert job["inputs"]["learning_rate"]["value"] == "0.3"
    assert job["properties"]["azureml.batchDeployment"] == "train-1"

    second = v2_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train",
                            endpoint_name="train-endpoint")
    assert second.outputs["pipeline-version"] == "2", second.stdout + second.stderr
    by_name = v2_step.action("trigger-pipeline", endpoint_name="train-endpoint", experiment_name="nightly")
    assert by_name.status == 0, by_name.stdout + by_name.stderr
    assert emulator.v2.jobs[by_name.outputs["run-id"]]["properties"]["properties"]["azureml.batchDeployment"] \
        == "train-2"
    assert_only_azure(emulator, host)
    assert_no_canary(emulator, *v2_step.results)


def test_what_does_not_translate_is_named(v2_step: AzureStep, pipeline_yaml: Path) -> None:
    pipeline_yaml.write_text(PIPELINE_YAML.replace("      allow_reuse: true\n", "      allow_reuse: true\n"
                                                   "      runconfig: steps/run.yml\n"))
    (pipeline_yaml.parent / "steps" / "run.yml").write_text("framework: Python\n")
    result = v2_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train",
                            endpoint_name="train-endpoint")
    assert result.status == 2, result.stdout
    assert "pipeline.steps.train.runconfig has no clean Azure ML SDK v2 translation" in result.stdout
    assert not v2_step.emulator.v2.batch_endpoints


def test_a_failed_job_fails_the_step_and_a_hung_one_times_out_with_its_id(v2_step: AzureStep,
                                                                         pipeline_yaml: Path) -> None:
    emulator = v2_step.emulator
    published = v2_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train",
                               endpoint_name="train-endpoint")
    assert published.status == 0, published.stdout + published.stderr
    emulator.fail("POST", r"^/jobs$", "run_failed", message="train.py exited with code 1")
    failed = v2_step.action("trigger-pipeline", pipeline_id=published.outputs["pipeline-id"],
                            experiment_name="nightly")
    assert failed.status == 1, failed.stdout
    assert failed.outputs["run-status"] == "Failed" and failed.outputs["run-id"] in emulator.v2.jobs
    # The steps (child jobs, from run history) with the failing step's own log, as v1 and local show them.
    assert "| `train` | ❌ Failed |" in failed.summary and "step train failed" in failed.summary, failed.summary
    assert "::group::step train: Failed" in failed.stdout
    assert "RuntimeError: train.py exited with code 1" in failed.stdout.split("::group::step train: Failed", 1)[1]
    assert "RuntimeError: train.py exited with code 1" in failed.summary
    emulator.fail("POST", r"^/jobs$", "operation_hangs")
    hung = v2_step.action("trigger-pipeline", endpoint_name="train-endpoint", experiment_name="nightly",
                          timeout_minutes="0.02")
    assert hung.status == 3, hung.stdout
    assert hung.outputs["run-id"] in emulator.v2.jobs and hung.outputs["run-status"] == "Running"
