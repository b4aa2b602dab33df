"""deploy-aci, promote-aks, smoke-test, get-logs and delete-service on the azureml backend against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure, deploy, make_scoring_project

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

ACI_HOST = "{name}.westeurope.azurecontainer.io"


@pytest.fixture
def project(azure_step: AzureStep) -> Path:
    return make_scoring_project(azure_step)


def test_deploy_aci_smoke_logs_delete(azure_step: AzureStep, project: Path) -> None:
    emulator = azure_step.emulator
    result = deploy(azure_step)
    assert result.status == 0, result.stdout + result.stderr
    out = result.outputs
    assert out["scoring-uri"] == f"http://{ACI_HOST.format(name='wine-test')}/score"
    assert (out["service-state"], out["model-ids"]) == ("Healthy", "factor:1")
    key = emulator.state.service_keys["wine-test"]["primaryKey"]
    assert out["scoring-key"] == key and f"::add-mask::{key}" in result.stdout
    assert "| `scoring-key` | `***` |" in result.summary and key not in result.summary
    assert "Deployed ACI service `wine-test`" in result.summary
    service = emulator.state.services["wine-test"]
    assert service["computeType"] == "ACI" and service["authEnabled"] is True
    assert json.loads(service["properties"]["mlops-ci.inference"])["source_directory"] == "src"
    assert emulator.state.scoring_calls[-1]["body"] == json.dumps({"data": [[1.0]]})

    smoke = azure_step.action("smoke-test", service_name="wine-test", sample_request="sample.json",
                              requests_count="3")
    assert smoke.status == 0 and smoke.outputs["status-code"] == "200", smoke.stdout
    logs = azure_step.action("get-logs", service_name="wine-test", tail="5")
    assert logs.status == 0 and "Initializing scoring server" in Path(logs.outputs["logs-path"]).read_text()
    deleted = azure_step.action("delete-service", service_name="wine-test")
    gone = azure_step.action("delete-service", service_name="wine-test")
    assert (deleted.outputs["deleted"], gone.outputs["deleted"]) == ("true", "false")
    assert "wine-test" not in emulator.state.services
    assert_only_azure(emulator, ACI_HOST.format(name="wine-test"))
    assert_no_canary(emulator, *azure_step.results)


def test_aci_update_in_place_reports_the_cpu_and_memory_it_cannot_change(azure_step: AzureStep,
                                                                         project: Path) -> None:
    emulator = azure_step.emulator
    config = {"computeType": "ACI", "containerResourceRequirements": {"cpu": 0.5, "memoryInGB": 1}}
    (project / "aci.json").write_text(json.dumps(config))
    first = deploy(azure_step, deployment_config="aci.json")
    assert first.status == 0, first.stdout + first.stderr
    assert "Not applied" not in first.summary and not [a for a in first.annotations if "ACI update" in a]
    same = deploy(azure_step, deployment_config="aci.json", model="factor:2")
    assert same.status == 0 and not [a for a in same.annotations if "ACI update" in a], same.stdout
    config["containerResourceRequirements"] = {"cpu": 2, "memoryInGB": 4}
    (project / "aci.json").write_text(json.dumps(config))
    bigger = deploy(azure_step, deployment_config="aci.json", model="factor:1")
    assert bigger.status == 0, bigger.stdout + bigger.stderr
    warnings = [a for a in bigger.annotations if a.startswith("::warning title=mlops-ci ACI update")]
    assert len(warnings) == 1, bigger.annotations
    assert "containerResourceRequirements.cpu (2" in warnings[0] and "containerResourceRequirements.memoryInGB (4" \
        in warnings[0]
    assert "**Not applied**" in bigger.summary and "containerResourceRequirements.memoryInGB" in bigger.summary
    assert bigger.outputs["model-ids"] == "factor:1"
    assert emulator.state.services["wine-test"]["containerResourceRequirements"]["cpu"] == 0.5


def test_failed_deployment_shows_its_logs(azure_step: AzureStep, project: Path) -> None:
    azure_step.emulator.fail("POST", r"/services$", "operation_failed",
                             message="ModuleNotFoundError: No module named 'sklearn'")
    result = deploy(azure_step)
    assert result.status == 1, result.stdout
    assert "::group::deploy-aci: logs" in result.stdout
    assert "No module named 'sklearn'" in result.stdout.split("::group::deploy-aci: logs")[1]
    assert "Worker exiting" in result.summary and "ended Failed" in result.summary
    assert any(a.startswith("::error title=mlops-ci deploy-aci") for a in result.annotations)


def test_deployment_that_never_ends_times_out_with_logs(azure_step: AzureStep, project: Path) -> None:
    azure_step.emulator.fail("POST", r"/services$", "operation_hangs")
    result = deploy(azure_step, timeout_minutes="0.1")  # the least the input allows: 6 s
    assert result.status == 3, result.stdout
    assert "still Running" in result.stdout and "::group::deploy-aci: logs" in result.stdout
    assert "Starting container for service wine-test" in result.summary


def test_promote_to_a_wrong_aks_name_lists_the_aks_targets(azure_step: AzureStep, project: Path) -> None:
    emulator = azure_step.emulator
    emulator.create_aks_compute("aks-prod")
    emulator.create_aml_compute("cpu-cluster")
    for name, said in (("aks-typo", "does not exist"), ("cpu-cluster", "is a AmlCompute, not AKS")):
        (project / "aks.json").write_text(json.dumps({"computeType": "AKS", "computeTargetName": name}))
        result = deploy(azure_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json")
        assert result.status == 2, result.stdout
        assert said in result.stdout and "AKS targets found: aks-prod" in result.stdout
    assert emulator.count(method="POST", path_regex=r"/services$") == 0


@pytest.mark.parametrize(("config", "cluster", "input_name", "said"), [
    ({}, "aks-typo", "aks-cluster", "Input 'aks-cluster' names AKS cluster 'aks-typo', which does not exist"),
    ({}, "cpu-cluster", "aks-cluster", "Input 'aks-cluster' names AKS cluster 'cpu-cluster', which is a AmlCompute"),
    ({"computeTargetName": "aks-typo"}, "", "deployment-config", "Input 'deployment-config' names AKS cluster "
     "'aks-typo' (computeTargetName), which does not exist"),
    ({}, "", "aks-cluster", "input 'aks-cluster' is empty and the deployment config has no computeTargetName"),
], ids=["input-missing-cluster", "input-not-aks", "config-missing-cluster", "no-cluster-at-all"])
def test_a_wrong_aks_cluster_names_the_input_that_named_it(azure_step: AzureStep, project: Path, config: dict,
                                                          cluster: str, input_name: str, said: str) -> None:
    emulator = azure_step.emulator
    emulator.create_aks_compute("aks-prod")
    emulator.create_aml_compute("cpu-cluster")
    (project / "aks.json").write_text(json.dumps({"computeType": "AKS", **config}))
    result = deploy(azure_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json",
                    aks_cluster=cluster)
    assert result.status == 2, result.stdout
    assert said in result.stdout and "AKS targets found: aks-prod" in result.stdout
    assert f"input '{input_name}'" in result.summary.lower()
    assert emulator.count(method="POST", path_regex=r"/services$") == 0


def test_promote_to_the_aks_cluster_input(azure_step: AzureStep, project: Path) -> None:
    emulator = azure_step.emulator
    emulator.create_aks_compute("aks-prod")
    emulator.create_aks_compute("aks-other")
    (project / "aks.json").write_text(json.dumps({"computeType": "AKS", "numReplicas": 1,
                                                  "autoScaler": {"autoscaleEnabled": False}}))
    result = deploy(azure_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json",
                    aks_cluster="aks-other")
    assert result.status == 0, result.stdout + result.stderr
    assert emulator.state.services["wine-prod"]["computeName"] == "aks-other"
    assert "| cluster | `aks-other` |" in result.summary
    assert_no_canary(emulator, *azure_step.results)


def test_promote_aks_updates_in_place_and_rolls_back(azure_step: AzureStep, project: Path) -> None:
    emulator = azure_step.emulator
    emulator.create_aks_compute("aks-prod")
    (project / "aks.json").write_text(json.dumps({"computeType": "AKS", "computeTargetName": "aks-prod",
                                                  "autoScaler": {"autoscaleEnabled": True, "minReplicas": 1,
                                                                 "maxReplicas": 3}}))
    first = deploy(azure_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json")
    assert first.status == 0, first.stdout + first.stderr
    assert (first.outputs["model-ids"], first.outputs["rolled-back"]) == ("factor:1", "false")
    assert emulator.state.services["wine-prod"]["computeName"] == "aks-prod"
    updated = deploy(azure_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json",
                     model="factor:2")
    assert updated.status == 0 and updated.outputs["model-ids"] == "factor:2", updated.stdout
    assert updated.outputs["previous-model-ids"] == "factor:1"
    assert emulator.count(method="PATCH", path_regex=r"/services/wine-prod") == 1

    emulator.script_scoring("wine-prod", reply={"error": "boom"}, status=500)
    broken = deploy(azure_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json",
                    model="factor:1")
    assert broken.status == 1, broken.stdout
    assert broken.outputs["rolled-back"] == "true"
    assert [m["id"] for m in emulator.state.services["wine-prod"]["models"]] == ["factor:2"]
    assert "rolled back to factor:2" in broken.summary
    aks_host = "aks-prod.westeurope.cloudapp.azure.com"
    assert_only_azure(emulator, aks_host)
    assert_no_canary(emulator, *azure_step.results)
