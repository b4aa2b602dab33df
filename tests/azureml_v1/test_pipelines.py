"""publish-pipeline and trigger-pipeline on the azureml backend against the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

PIPELINE_YAML = """\
pipeline:
  description: trains the model
  default_compute: cpu-cluster
  parameters:
    learning_rate:
      type: float
      default: 0.1
  steps:
    train:
      type: PythonScriptStep
      name: train
      script_name: train.py
      source_directory: steps
      arguments:
        - --learning-rate
        - parameter:lr
      parameters:
        lr:
          source: learning_rate
      allow_reuse: true
"""


@pytest.fixture
def pipeline_yaml(azure_step: AzureStep) -> Path:
    root = Path.cwd()
    (root / "steps").mkdir()
    (root / "steps" / "train.py").write_text("print('training')\n")
    (root / "pipeline.yml").write_text(PIPELINE_YAML)
    return root / "pipeline.yml"


def test_publish_yaml_under_an_endpoint_then_trigger_over_http(azure_step: AzureStep, pipeline_yaml: Path) -> None:
    emulator = azure_step.emulator
    emulator.create_aml_compute("cpu-cluster")
    published = azure_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train",
                                  endpoint_name="train-endpoint")
    assert published.status == 0, published.stdout + published.stderr
    out = published.outputs
    assert out["pipeline-version"] == "1" and out["endpoint-name"] == "train-endpoint"
    assert out["pipeline-id"] in emulator.state.pipelines and emulator.state.snapshots
    triggered = azure_step.action("trigger-pipeline", pipeline_endpoint=out["pipeline-endpoint"],
                                  experiment_name="nightly", pipeline_parameters="learning_rate=0.3")
    assert triggered.status == 0, triggered.stdout + triggered.stderr
    run_id = triggered.outputs["run-id"]
    assert triggered.outputs["run-status"] == "Completed"
    assert emulator.state.runs[run_id]["parameters"] == {"learning_rate": "0.3"}
    second = azure_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train",
                               endpoint_name="train-endpoint")
    assert second.outputs["pipeline-version"] == "2"
    by_name = azure_step.action("trigger-pipeline", endpoint_name="train-endpoint", experiment_name="nightly")
    assert by_name.status == 0, by_name.stdout
    assert emulator.state.runs[by_name.outputs["run-id"]]["pipelineId"] == second.outputs["pipeline-id"]
    assert_only_azure(emulator)
    assert_no_canary(emulator, *azure_step.results)


def test_missing_compute_is_bad_input(azure_step: AzureStep, pipeline_yaml: Path) -> None:
    result = azure_step.action("publish-pipeline", pipeline_yaml="pipeline.yml", pipeline_name="train")
    assert result.status == 2, result.stdout
    assert "compute 'cpu-cluster'" in result.stdout and not azure_step.emulator.state.pipelines


def test_publish_from_run_then_a_failing_run_fails_the_step(azure_step: AzureStep) -> None:
    emulator = azure_step.emulator
    run_id = emulator.seed_pipeline_run("training")
    published = azure_step.action("publish-pipeline", run_id=run_id, experiment_name="training",
                                  pipeline_name="train")
    assert published.status == 0, published.stdout + published.stderr
    emulator.fail("POST", r"/PipelineSubmit/", "run_failed", message="train.py exited with code 1")
    failed = azure_step.action("trigger-pipeline", pipeline_id=published.outputs["pipeline-id"],
                               experiment_name="nightly")
    assert failed.status == 1, failed.stdout
    assert failed.outputs["run-status"] == "Failed" and "exited with code 1" in failed.summary
    # The failing step's own log (stdout and stderr, read with StepRun), in a group and in the summary's logs.
    group = failed.stdout.split("::group::step train: Failed")[1].split("::endgroup::")[0]
    assert "=== stdout ===" in group and 'File "train.py"' in group and "train.py exited with code 1" in group
    assert "--- step train: Failed" in failed.summary and 'File "train.py"' in failed.summary


def test_a_run_past_its_timeout_is_left_running_and_can_be_canceled(azure_step: AzureStep) -> None:
    from mlops_ci.backends.azureml_v1.backend import AzureMLBackend
    from mlops_ci.context import Settings
    from mlops_ci.inputs import Inputs
    from mlops_ci.runner import Runner

    emulator = azure_step.emulator
    published = azure_step.action("publish-pipeline", run_id=emulator.seed_pipeline_run("training"),
                                  experiment_name="training", pipeline_name="train")
    assert published.status == 0, published.stdout + published.stderr
    emulator.state.run_polls = 10**6  # the run never ends by itself
    late = azure_step.action("trigger-pipeline", pipeline_id=published.outputs["pipeline-id"],
                             experiment_name="nightly", timeout_minutes="0.001")
    assert late.status == 3, late.stdout
    run_id = late.outputs["run-id"]
    assert late.outputs["run-status"] == "Running" and "it was left running" in late.summary
    assert emulator.count(method="DELETE", path_regex=r"/Execution$") == 0
    environ = {**emulator.env}
    runner = Runner({})
    inputs = Inputs({key.replace("_", "-"): value for key, value in azure_step.inputs().items()})
    settings = Settings.from_inputs(inputs, runner, environ)
    backend = AzureMLBackend(settings, runner)
    canceled = backend.cancel_pipeline_run(run_id, experiment_name="nightly")
    assert canceled.status == "Canceled" and emulator.count(method="DELETE", path_regex=r"/Execution$") == 1
    again = backend.cancel_pipeline_run(run_id, experiment_name="nightly")  # already over: nothing to do
    assert again.status == "Canceled" and emulator.count(method="DELETE", path_regex=r"/Execution$") == 1
    assert_only_azure(emulator)
    assert_no_canary(emulator, *azure_step.results)
