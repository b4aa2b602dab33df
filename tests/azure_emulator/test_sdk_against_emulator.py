"""End-to-end tests: the real Azure ML SDK v1, unpatched, against the loopback emulator."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from .emulator import AzureEmulator

pytestmark = [
    # The SDK's own imports and msrest emit these; nothing in this project's code does.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

SCORE_PY = "def init():\n    pass\n\ndef run(raw):\n    return {'result': [1]}\n"


def assert_only_azure(emulator: AzureEmulator, *extra: str) -> None:
    """Every request went to an emulated Azure host (plus ``extra``), none was refused or reset."""
    allowed = emulator.azure_hosts() | set(extra)
    assert emulator.hosts() <= allowed, sorted(emulator.hosts() - allowed)
    assert all(r.status > 0 for r in emulator.requests), [r for r in emulator.requests if r.status <= 0]


@pytest.fixture
def env(azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AzureEmulator:
    for name, value in azure_emulator.env.items():
        monkeypatch.setenv(name, value)
    # Model.register refuses paths outside the current directory.
    monkeypatch.chdir(tmp_path)
    return azure_emulator


@pytest.fixture
def ws(env: AzureEmulator) -> Any:
    from azureml.core import Workspace
    from azureml.core.authentication import ServicePrincipalAuthentication

    auth = ServicePrincipalAuthentication(env.tenant_id, env.client_id, env.client_secret)
    return Workspace.get(env.workspace_name, auth=auth, subscription_id=env.subscription_id,
                         resource_group=env.resource_group)


@pytest.fixture
def model_files(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x08\x07onnx-model-bytes")
    (folder / "labels.txt").write_text("cat\ndog\n")
    source = tmp_path / "src"
    source.mkdir()
    (source / "score.py").write_text(SCORE_PY)
    return tmp_path


def inference_config() -> Any:
    from azureml.core import Environment
    from azureml.core.model import InferenceConfig

    environment = Environment("inference")
    environment.python.user_managed_dependencies = True
    return InferenceConfig(entry_script="score.py", source_directory="src", environment=environment)


# -- sign-in and workspace ----------------------------------------------------------------------------------------
def test_workspace_get_with_service_principal(ws: Any, env: AzureEmulator) -> None:
    assert ws.name == env.workspace_name and ws.location == env.region
    assert env.issued_tokens("client_secret") and not env.issued_tokens("client_assertion")
    assert env.hosts() == {"login.microsoftonline.com", "management.azure.com"}
    assert_only_azure(env)


def test_wrong_secret_is_refused_with_aadsts(env: AzureEmulator) -> None:
    from azureml.core import Workspace
    from azureml.core.authentication import ServicePrincipalAuthentication
    from azureml._vendor.azure_cli_core.azclierror import AuthenticationError

    auth = ServicePrincipalAuthentication(env.tenant_id, env.client_id, "not-the-secret")
    # The SDK lets its vendored CLI error through, not azureml.exceptions.AuthenticationException.
    with pytest.raises(AuthenticationError, match="AADSTS7000215"):
        Workspace.get(env.workspace_name, auth=auth, subscription_id=env.subscription_id,
                      resource_group=env.resource_group)
    assert not env.issued_tokens()
    assert_only_azure(env)


def test_unknown_workspace_is_a_404(env: AzureEmulator) -> None:
    from azureml.core import Workspace
    from azureml.core.authentication import ServicePrincipalAuthentication
    from azureml.exceptions import ProjectSystemException

    auth = ServicePrincipalAuthentication(env.tenant_id, env.client_id, env.client_secret)
    with pytest.raises(ProjectSystemException, match="Workspace not found"):
        Workspace.get("no-such-ws", auth=auth, subscription_id=env.subscription_id,
                      resource_group=env.resource_group)
    assert any(r.status == 404 and r.host == "management.azure.com" for r in env.requests)


def test_federated_client_assertion_sign_in(env: AzureEmulator) -> None:
    import msal

    env.federated_assertion = "eyJ.oidc-token-from-the-ci.sig"
    app = msal.ConfidentialClientApplication(
        env.client_id, client_credential={"client_assertion": env.federated_assertion},
        authority=f"https://login.microsoftonline.com/{env.tenant_id}")
    result = app.acquire_token_for_client(scopes=["https://management.azure.com/.default"])
    assert "access_token" in result, result
    assert [t["method"] for t in env.issued_tokens()] == ["client_assertion"]
    wrong = msal.ConfidentialClientApplication(
        env.client_id, client_credential={"client_assertion": "forged"},
        authority=f"https://login.microsoftonline.com/{env.tenant_id}")
    assert "AADSTS700213" in wrong.acquire_token_for_client(scopes=["x/.default"]).get("error_description", "")
    assert_only_azure(env)


# -- models -------------------------------------------------------------------------------------------------------
def test_model_register_file_and_folder_then_lookup(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model

    env.clear_log()
    first = Model.register(ws, model_path="model/model.onnx", model_name="churn", tags={"sha256": "aaa"},
                           properties={"stage": "dev"}, description="first", model_framework="Onnx",
                           model_framework_version="1.14")
    register_requests = len(env.requests)
    second = Model.register(ws, model_path="model", model_name="churn", tags={"sha256": "bbb"})
    assert (first.version, second.version) == (1, 2)
    assert Model(ws, name="churn").version == 2
    assert [m.version for m in Model.list(ws, name="churn", tags=[["sha256", "aaa"]])] == [1]
    assert [m.version for m in Model.list(ws, name="churn")] == [2, 1]
    assert Model(ws, id="churn:1").tags == {"sha256": "aaa"}
    uploaded = {path for (_container, path) in env.state.blobs}
    assert any(p.endswith("/model.onnx") for p in uploaded) and any(p.endswith("model/labels.txt") for p in uploaded)
    assert register_requests == 6  # artifact batch, PUT blob, HEAD blob, asset, model (+ discovery once)
    assert_only_azure(env)


# -- ACI ----------------------------------------------------------------------------------------------------------
def test_aci_deploy_logs_keys_score_update_delete(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model
    from azureml.core.webservice import AciWebservice, Webservice

    model = Model.register(ws, model_path="model/model.onnx", model_name="churn")
    env.script_scoring("churn-aci", reply={"predictions": [0.9]})
    env.clear_log()
    config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True)
    service = Model.deploy(ws, "churn-aci", [model], inference_config(), config)
    service.wait_for_deployment(timeout_sec=30)
    deploy_requests = len(env.requests)
    assert service.state == "Healthy" and isinstance(service, AciWebservice)
    assert "Initializing" in service.get_logs()
    primary, secondary = service.get_keys()
    assert primary != secondary
    assert service.run(json.dumps({"data": [[1, 2]]})) == {"predictions": [0.9]}
    reply = requests.post(service.scoring_uri, json={"data": []}, headers={"Authorization": "Bearer wrong"},
                          timeout=10)
    assert reply.status_code == 401
    service.update(enable_app_insights=True)
    service.wait_for_deployment(timeout_sec=30)
    assert Webservice(ws, "churn-aci").enable_app_insights is True
    patch = [r for r in env.requests if r.method == "PATCH"]
    assert len(patch) == 1
    service.delete()
    assert "churn-aci" not in env.state.services
    assert deploy_requests <= 16
    assert_only_azure(env, "churn-aci.westeurope.azurecontainer.io")


def test_failed_deployment_shows_error_and_logs(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model
    from azureml.core.webservice import AciWebservice
    from azureml.exceptions import WebserviceException

    model = Model.register(ws, model_path="model/model.onnx", model_name="churn")
    env.fail("POST", r"/services$", "operation_failed", message="ModuleNotFoundError: No module named 'sklearn'")
    service = Model.deploy(ws, "broken", [model], inference_config(), AciWebservice.deploy_configuration())
    with pytest.raises(WebserviceException, match="sklearn"):
        service.wait_for_deployment(timeout_sec=30)
    assert service.state == "Failed"
    assert "No module named 'sklearn'" in service.get_logs()
    assert_only_azure(env)


def test_scoring_uri_scripted_500(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model
    from azureml.core.webservice import AciWebservice

    model = Model.register(ws, model_path="model/model.onnx", model_name="churn")
    service = Model.deploy(ws, "flaky", [model], inference_config(),
                           AciWebservice.deploy_configuration(auth_enabled=True))
    service.wait_for_deployment(timeout_sec=30)
    env.script_scoring("flaky", reply={"error": "boom"}, status=500)
    # Webservice.run retries a 500 three times with 2-8 s back-off, so the smoke test is checked directly.
    key = service.get_keys()[0]
    reply = requests.post(service.scoring_uri, json={"data": [[1]]}, headers={"Authorization": f"Bearer {key}"},
                          timeout=10)
    assert (reply.status_code, reply.json()) == (500, {"error": "boom"})
    assert_only_azure(env, "flaky.westeurope.azurecontainer.io")


# -- AKS ----------------------------------------------------------------------------------------------------------
def test_aks_deploy_on_aks_compute(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model
    from azureml.core.compute import AksCompute, AmlCompute, ComputeTarget
    from azureml.core.webservice import AksWebservice, Webservice

    env.create_aks_compute("aks-prod")
    env.create_aml_compute("cpu-cluster")
    targets = ComputeTarget.list(ws)
    assert {type(t) for t in targets} == {AksCompute, AmlCompute}
    target = ComputeTarget(ws, "aks-prod")
    assert isinstance(target, AksCompute)
    model = Model.register(ws, model_path="model/model.onnx", model_name="churn")
    config = AksWebservice.deploy_configuration(autoscale_enabled=True, autoscale_min_replicas=1,
                                                autoscale_max_replicas=3, auth_enabled=True)
    service = Model.deploy(ws, "churn-aks", [model], inference_config(), config, deployment_target=target)
    service.wait_for_deployment(timeout_sec=30)
    assert isinstance(service, AksWebservice) and service.state == "Healthy"
    assert service.compute_name == "aks-prod" and service.autoscaler.max_replicas == 3
    assert service.run(json.dumps({"data": [[1]]})) == {"result": [0]}
    fetched = Webservice(ws, "churn-aks")
    assert [m.id for m in fetched.models] == ["churn:1"]
    fetched.delete()
    from azureml.exceptions import ComputeTargetException
    with pytest.raises(ComputeTargetException):
        ComputeTarget(ws, "missing")
    assert_only_azure(env, "aks-prod.westeurope.cloudapp.azure.com")
