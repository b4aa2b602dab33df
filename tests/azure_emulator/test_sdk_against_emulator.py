"""End-to-end tests: the real Azure ML SDK v1, unpatched, against the loopback emulator."""

from __future__ import annotations

import json
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
    from azureml._vendor.azure_cli_core.azclierror import AuthenticationError
    from azureml.core import Workspace
    from azureml.core.authentication import ServicePrincipalAuthentication

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


# -- pipelines ----------------------------------------------------------------------------------------------------
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
        - parameter:learning_rate
      allow_reuse: true
"""


def poll_until_done(run: Any, limit: int = 10) -> list[str]:
    seen = []
    for _ in range(limit):
        seen.append(run.get_status())
        if seen[-1] in ("Finished", "Failed", "Canceled"):
            break
    return seen


def test_publish_from_yaml_submit_and_rest_trigger(ws: Any, env: AzureEmulator, tmp_path: Path) -> None:
    from azureml.pipeline.core import Pipeline, PublishedPipeline

    env.create_aml_compute("cpu-cluster")
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "train.py").write_text("print('training')\n")
    (tmp_path / "pipeline.yml").write_text(PIPELINE_YAML)
    env.clear_log()
    published = Pipeline.load_yaml(ws, "pipeline.yml").publish(name="train", description="nightly", version="1")
    publish_requests = len(env.requests)
    assert env.state.snapshots and env.state.modules
    fetched = PublishedPipeline.get(ws, published.id)
    assert fetched.name == "train" and fetched.endpoint == published.endpoint
    run = fetched.submit(ws, "nightly", pipeline_parameters={"learning_rate": 0.2})
    assert poll_until_done(run)[-1] == "Finished"
    # The REST trigger: a bearer token for the service principal, the documented body, the run id back.
    token = ws._auth.get_authentication_header()
    reply = requests.post(published.endpoint, headers=token, timeout=10,
                          json={"ExperimentName": "nightly", "ParameterAssignments": {"learning_rate": "0.3"}})
    assert reply.status_code == 200
    run_id = reply.json()["Id"]
    assert env.state.runs[run_id]["parameters"] == {"learning_rate": "0.3"}
    assert requests.post(published.endpoint, json={"ExperimentName": "x"}, timeout=10).status_code == 401
    assert publish_requests <= 14
    assert_only_azure(env)


def test_publish_from_pipeline_run_and_endpoint_versions(ws: Any, env: AzureEmulator) -> None:
    from azureml.core import Experiment
    from azureml.pipeline.core import PipelineEndpoint, PipelineRun

    run_id = env.seed_pipeline_run("training")
    pipeline_run = PipelineRun(Experiment(ws, "training"), run_id)
    assert pipeline_run.get_status() == "Finished"
    first = pipeline_run.publish_pipeline(name="train", description="from run", version="1")
    second = pipeline_run.publish_pipeline(name="train", description="from run", version="2")
    endpoint = PipelineEndpoint.publish(ws, name="train-endpoint", pipeline=first, description="stable url")
    assert endpoint.default_version == "0"
    same = PipelineEndpoint.get(ws, name="train-endpoint")
    same.add_default(second)
    assert PipelineEndpoint.get(ws, id=endpoint.id).default_version == "1"
    submitted = same.submit("nightly")
    assert env.state.runs[submitted.id]["pipelineId"] == second.id
    assert poll_until_done(submitted)[-1] == "Finished"
    assert_only_azure(env)


def test_pipeline_run_scripted_failure_and_polls(ws: Any, env: AzureEmulator) -> None:
    from azureml.core import Experiment
    from azureml.pipeline.core import PipelineRun

    env.state.run_polls = 3
    published = PipelineRun(Experiment(ws, "training"), env.seed_pipeline_run()).publish_pipeline(
        name="train", description="d", version="1")
    env.fail("POST", r"/PipelineSubmit/", "run_failed", message="train.py exited with code 1")
    run = published.submit(ws, "nightly")
    statuses = poll_until_done(run)
    assert statuses[-1] == "Failed" and "Running" in statuses
    history = requests.get(f"{env.api_host_url}/history/v1.0{env.workspace_scope}/experiments/nightly/runs/{run.id}",
                           headers=ws._auth.get_authentication_header(), timeout=10).json()
    assert history["status"] == "Failed" and "exited with code 1" in history["error"]["error"]["message"]


# -- datastores and datasets --------------------------------------------------------------------------------------
def test_default_datastore(ws: Any, env: AzureEmulator) -> None:
    from azureml.core import Datastore

    store = Datastore.get(ws, "workspaceblobstore")
    assert store.account_name == env.storage_account and store.container_name.startswith("azureml-blobstore-")
    assert ws.get_default_datastore().name == "workspaceblobstore"
    assert_only_azure(env)


def test_dataset_register_from_url(ws: Any, env: AzureEmulator) -> None:
    pytest.importorskip("azureml.dataprep", reason="Dataset.Tabular/File need azureml-dataset-runtime")
    from azureml.core import Dataset

    url = f"https://{env.blob_host}/public/iris.csv"
    env.state.blobs[("public", "iris.csv")] = {"data": b"a,b\n1,2\n", "etag": '"0x1"', "md5": "", "metadata": {},
                                               "content_type": "text/csv", "last_modified": "Mon, 01 Jan 2024"}
    tabular = Dataset.Tabular.from_delimited_files(path=url)
    first = tabular.register(ws, "iris", create_new_version=True)
    again = tabular.register(ws, "iris", create_new_version=True)
    assert first.version == again.version == 1
    files = Dataset.File.from_files(path=url).register(ws, "iris-files", create_new_version=True)
    assert Dataset.get_by_name(ws, "iris-files").id == files.id


# -- scripted faults ----------------------------------------------------------------------------------------------
def models_url(env: AzureEmulator) -> str:
    return f"{env.api_host_url}/modelmanagement/v1.0{env.workspace_scope}/models"


@pytest.mark.parametrize(("kind", "status"), [(429, 429), (500, 500), (502, 502), (503, 503), (504, 504),
                                              ("conflict", 409), ("throttle", 429)],
                         ids=["429", "500", "502", "503", "504", "conflict", "throttle-named"])
def test_status_faults_are_delivered_then_cleared(ws: Any, env: AzureEmulator, kind: Any, status: int) -> None:
    headers = ws._auth.get_authentication_header()
    fault = env.fail("GET", r"/models", kind, times=2, retry_after=7)
    for _ in range(2):
        reply = requests.get(models_url(env), headers=headers, timeout=10)
        assert reply.status_code == status
        assert "error" in reply.json()
    if status == 429:
        assert reply.headers["Retry-After"] == "7"
    assert requests.get(models_url(env), headers=headers, timeout=10).status_code == 200
    assert fault.delivered == 2


def test_pipelines_faults_use_the_pipelines_envelope(ws: Any, env: AzureEmulator) -> None:
    env.fail("GET", r"/DataTypes", 503)
    reply = requests.get(f"{env.api_host_url}/pipelines/v1.0{env.workspace_scope}/DataTypes",
                         headers=ws._auth.get_authentication_header(), timeout=10)
    assert reply.status_code == 503 and reply.json()["Error"]["Code"] == "ServiceUnavailable"


def test_reset_closes_the_connection(ws: Any, env: AzureEmulator) -> None:
    env.fail("GET", r"/models", "reset")
    with pytest.raises(requests.ConnectionError):
        requests.get(models_url(env), headers=ws._auth.get_authentication_header(), timeout=10)
    assert env.requests[-1].status == -1


def test_sdk_rides_over_a_reset_and_a_502(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model

    Model.register(ws, model_path="model/model.onnx", model_name="churn")
    reset = env.fail("GET", r"/models\?", "reset")
    bad_gateway = env.fail("GET", r"/models\?", 502)
    # The SDK retries both at once (its back-off starts at zero for these), so no sleep is needed here.
    assert Model(ws, name="churn").version == 1
    assert (reset.delivered, bad_gateway.delivered) == (1, 1)


def test_operation_that_never_finishes(ws: Any, env: AzureEmulator, model_files: Path) -> None:
    from azureml.core import Model
    from azureml.core.webservice import AciWebservice

    model = Model.register(ws, model_path="model/model.onnx", model_name="churn")
    env.fail("POST", r"/services$", "operation_hangs")
    service = Model.deploy(ws, "stuck", [model], inference_config(), AciWebservice.deploy_configuration())
    headers = ws._auth.get_authentication_header()
    # wait_for_deployment sleeps 5 s between polls, so the hang is observed through the operation itself.
    states = [requests.get(service._operation_endpoint, headers=headers, timeout=10).json()["state"]
              for _ in range(5)]
    assert states == ["Running"] * 5
    assert env.state.services["stuck"]["state"] == "Transitioning"
    conflict = requests.patch(f"{env.api_host_url}/modelmanagement/v1.0{env.workspace_scope}/services/stuck",
                              json=[{"op": "replace", "path": "/description", "value": "x"}], headers=headers,
                              timeout=10)
    assert conflict.status_code == 409


def test_unknown_route_and_host_fail_closed(ws: Any, env: AzureEmulator) -> None:
    headers = ws._auth.get_authentication_header()
    reply = requests.get(f"{env.api_host_url}/nothing/here", headers=headers, timeout=10)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "RouteNotFound"
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.com/", timeout=10)
    # A plain-http request through the proxy gets the proxy's own 502.
    assert requests.get("http://169.254.169.254/metadata/instance", timeout=10).status_code == 502
    refused = {r.host for r in env.requests if r.status == 0}
    assert refused == {"example.com", "169.254.169.254"}


def test_data_plane_requires_a_token(env: AzureEmulator) -> None:
    assert requests.get(models_url(env), timeout=10).status_code == 401
