"""deploy-aci, smoke-test, get-logs, delete-service and the promote-aks blue/green with azureml-sdk v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure_emulator.arm_v2 import add_kubernetes_compute
from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure, deploy, make_scoring_project
from tests.azureml_v2.conftest import SDK_WARNINGS

pytestmark = SDK_WARNINGS
MANAGED_HOST = "{name}.westeurope.inference.ml.azure.com"
K8S_HOST = "aks-prod.westeurope.cloudapp.azure.com"


@pytest.fixture
def project(v2_step: AzureStep) -> Path:
    return make_scoring_project(v2_step)


def test_deploy_aci_on_a_managed_endpoint_smoke_logs_delete(v2_step: AzureStep, project: Path) -> None:
    emulator = v2_step.emulator
    (project / "aci.json").write_text(json.dumps({
        "computeType": "ACI", "containerResourceRequirements": {"cpu": 2, "memoryInGB": 20},
        "appInsightsEnabled": True, "location": "northeurope", "sslEnabled": False}))
    result = deploy(v2_step, deployment_config="aci.json")
    assert result.status == 0, result.stdout + result.stderr
    out = result.outputs
    host = MANAGED_HOST.format(name="wine-test")
    assert (out["scoring-uri"], out["swagger-uri"]) == (f"https://{host}/score", f"https://{host}/swagger.json")
    assert (out["service-state"], out["model-ids"]) == ("Healthy", "factor:1")
    key = emulator.v2.endpoint_keys["wine-test"]["primaryKey"]
    assert out["scoring-key"] == key and f"::add-mask::{key}" in result.stdout
    assert "| `scoring-key` | `***` |" in result.summary and key not in result.summary
    endpoint = emulator.v2.online_endpoints["wine-test"]["properties"]
    assert endpoint["authMode"] == "Key" and endpoint["traffic"] == {"blue": 100}
    deployment = emulator.v2.online_deployments[("wine-test", "blue")]
    props = deployment["properties"]
    assert props["endpointComputeType"] == "Managed" and props["appInsightsEnabled"] is True
    assert props["instanceType"] == "Standard_DS4_v2"  # the smallest size with 2 cores and 20 GB
    assert props["model"].endswith("/models/factor/versions/1")
    # v1 keys with no v2 meaning are reported by name, not dropped silently.
    warnings = [a for a in result.annotations if a.startswith("::warning")]
    assert any("'location'" in w for w in warnings) and any("'sslEnabled'" in w for w in warnings)
    # The smoke test reached the new deployment by name, before it took any traffic.
    first_call = emulator.v2.scoring_calls[0]
    assert (first_call["deployment"], first_call["header"]) == ("blue", "blue")
    assert first_call["body"] == json.dumps({"data": [[1.0]]})

    smoke = v2_step.action("smoke-test", service_name="wine-test", sample_request="sample.json",
                           requests_count="3")
    assert smoke.status == 0 and smoke.outputs["status-code"] == "200", smoke.stdout + smoke.stderr
    logs = v2_step.action("get-logs", service_name="wine-test", tail="5")
    assert logs.status == 0, logs.stdout + logs.stderr
    text = Path(logs.outputs["logs-path"]).read_text()
    assert "InferenceServer" in text and "StorageInitializer" in text and "Initializing scoring server" in text
    deleted = v2_step.action("delete-service", service_name="wine-test")
    gone = v2_step.action("delete-service", service_name="wine-test")
    assert (deleted.outputs.get("deleted"), gone.outputs.get("deleted")) == ("true", "false"), deleted.stdout + gone.stdout
    assert "wine-test" not in emulator.v2.online_endpoints
    assert_only_azure(emulator, host)
    assert_no_canary(emulator, *v2_step.results)


def test_promote_to_a_wrong_kubernetes_name_lists_the_kubernetes_computes(v2_step: AzureStep, project: Path) -> None:
    emulator = v2_step.emulator
    add_kubernetes_compute(emulator, "aks-prod")
    emulator.create_aml_compute("cpu-cluster")
    for name, said in (("aks-typo", "does not exist"), ("cpu-cluster", "is a amlcompute compute, not Kubernetes")):
        (project / "aks.json").write_text(json.dumps({"computeType": "AKS", "computeTargetName": name}))
        result = deploy(v2_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json")
        assert result.status == 2, result.stdout
        assert said in result.stdout and "Kubernetes computes found: aks-prod" in result.stdout
    assert emulator.count(method="PUT", path_regex=r"/onlineEndpoints/") == 0


def test_promote_aks_is_blue_green_and_a_failed_smoke_test_keeps_the_traffic(v2_step: AzureStep,
                                                                             project: Path) -> None:
    emulator = v2_step.emulator
    add_kubernetes_compute(emulator, "aks-prod")
    (project / "aks.json").write_text(json.dumps({
        "computeType": "AKS", "computeTargetName": "aks-prod", "scoringTimeoutMs": 5000,
        "autoScaler": {"autoscaleEnabled": True, "minReplicas": 1, "maxReplicas": 3}}))
    first = deploy(v2_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json")
    assert first.status == 0, first.stdout + first.stderr
    assert (first.outputs["model-ids"], first.outputs["rolled-back"]) == ("factor:1", "false")
    assert first.outputs["scoring-uri"] == f"https://{K8S_HOST}/api/v1/endpoint/wine-prod/score"
    endpoint = emulator.v2.online_endpoints["wine-prod"]
    assert endpoint["properties"]["compute"].endswith("/computes/aks-prod")
    assert endpoint["properties"]["traffic"] == {"blue": 100}
    blue = emulator.v2.online_deployments[("wine-prod", "blue")]["properties"]
    assert blue["endpointComputeType"] == "Kubernetes"
    assert blue["scaleSettings"]["scaleType"] == "TargetUtilization" and blue["scaleSettings"]["maxInstances"] == 3

    updated = deploy(v2_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json",
                     model="factor:2")
    assert updated.status == 0, updated.stdout + updated.stderr
    assert (updated.outputs["model-ids"], updated.outputs["previous-model-ids"]) == ("factor:2", "factor:1")
    assert endpoint is not emulator.v2.online_endpoints["wine-prod"]
    assert emulator.v2.online_endpoints["wine-prod"]["properties"]["traffic"] == {"green": 100, "blue": 0} or \
        emulator.v2.online_endpoints["wine-prod"]["properties"]["traffic"] == {"green": 100}
    assert set(d for (e, d) in emulator.v2.online_deployments if e == "wine-prod") == {"green"}
    # The new deployment was smoke-tested by name while blue still had all the traffic.
    green_calls = [c for c in emulator.v2.scoring_calls if c["deployment"] == "green"]
    assert green_calls[0]["header"] == "green"

    emulator.v2.scoring[("wine-prod", "blue")] = {"reply": {"error": "boom"}, "status": 500}
    broken = deploy(v2_step, "promote-aks", service_name="wine-prod", deployment_config="aks.json",
                    model="factor:1")
    assert broken.status == 1, broken.stdout
    assert broken.outputs["rolled-back"] == "true"
    live = emulator.v2.online_endpoints["wine-prod"]["properties"]["traffic"]
    assert {d: p for d, p in live.items() if p} == {"green": 100}
    assert set(d for (e, d) in emulator.v2.online_deployments if e == "wine-prod") == {"green"}
    assert "still sends all its traffic to deployment 'green'" in broken.summary
    assert "::group::promote-aks: logs" in broken.stdout
    smoke = v2_step.action("smoke-test", service_name="wine-prod", sample_request="sample.json")
    assert smoke.status == 0, smoke.stdout + smoke.stderr  # production kept answering
    assert_only_azure(emulator, K8S_HOST)
    assert_no_canary(emulator, *v2_step.results)


def test_a_deployment_that_fails_shows_its_logs(v2_step: AzureStep, project: Path) -> None:
    v2_step.emulator.fail("PUT", r"/onlineEndpoints/wine-test/deployments/", "operation_failed",
                          message="ModuleNotFoundError: No module named 'sklearn'")
    result = deploy(v2_step)
    assert result.status == 1, result.stdout
    logs = result.stdout.split("::group::deploy-aci: logs")[1]
    assert "No module named 'sklearn'" in logs and "InferenceServer" in logs
    assert any(a.startswith("::error title=mlops-ci deploy-aci") for a in result.annotations)


def test_a_deployment_that_never_ends_times_out_with_logs(v2_step: AzureStep, project: Path) -> None:
    v2_step.emulator.fail("PUT", r"/onlineEndpoints/wine-test/deployments/", "operation_hangs")
    result = deploy(v2_step, timeout_minutes="0.1")  # the least the input allows: 6 s
    assert result.status == 3, result.stdout
    assert "still InProgress" in result.stdout and "::group::deploy-aci: logs" in result.stdout
