"""deploy-aci, smoke-test, get-logs and delete-service through main(), as a workflow step and a terminal run them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mlops_ci.backends.local.backend import LocalBackend
from mlops_ci.backends.local.workspace import LocalWorkspace
from mlops_ci.cli import main
from mlops_ci.runner import Runner
from tests.deploy_fixtures import SCORE_PLAIN, make_project, no_stray_processes  # noqa: F401
from tests.harness import Step

CANARY = "canary-key-5f0e1d2c3b4a"
CANARY2 = "canary-second-99aa88bb"


@pytest.fixture
def project(step: Step, no_stray_processes: None):  # noqa: F811
    project = make_project(Path.cwd())
    result = step.action("register-model", backend="local", model_path="models/factor.txt", model_name="factor")
    assert result.status == 0, result.stdout
    return project


def _deploy(step: Step, **inputs: str):
    values = {"backend": "local", "model": "factor", "service_name": "wine-test",
              "inference_config": "inferenceconfig.json", "sample_request": "sample.json", **inputs}
    return step.action("deploy-aci", **values)


def test_deploy_aci_smoke_test_logs_and_delete(step: Step, project) -> None:
    project.write("deploymentconfig.yml", "computeType: ACI\ncontainerResourceRequirements: {cpu: 0.5, memoryInGB: 1}\n"
                  f"keys:\n  primaryKey: {CANARY}\n  secondaryKey: {CANARY2}\n")
    project.json("expected.json", {"result": [2.0, 4.0]})
    result = _deploy(step, deployment_config="deploymentconfig.yml", expected_response="expected.json")
    assert result.status == 0, result.stdout
    out = result.outputs
    assert out["service-name"] == "wine-test"
    assert out["service-state"] == "Healthy"
    assert out["model-ids"] == "factor:1"
    assert out["scoring-uri"].startswith("http://127.0.0.1:") and out["scoring-uri"].endswith("/score")
    assert out["swagger-uri"].endswith("/swagger.json")
    assert out["scoring-key"] == CANARY
    assert "Deployed ACI service `wine-test`" in result.summary
    assert "| `scoring-key` | `***` |" in result.summary

    # The key reaches the outputs file (for later steps) and nothing else but the mask command.
    for name in (CANARY, CANARY2):
        assert f"::add-mask::{name}" in result.stdout
        assert result.stdout.count(name) == 1
        assert name not in result.stderr and name not in result.summary
    assert [line for line in result.output_file.splitlines() if CANARY in line] == [f"scoring-key={CANARY}"]
    assert CANARY2 not in result.output_file

    # Exactly the snippet a newcomer would write against Azure.
    scoring_uri, key, data = out["scoring-uri"], out["scoring-key"], {"data": [5]}
    headers = {'Content-Type': 'application/json', 'Authorization': f'Bearer {key}'}
    with requests.Session() as http:
        http.trust_env = False
        resp = http.post(scoring_uri, json.dumps(data), headers=headers)
    assert resp.json() == {"result": [10.0]}

    smoke = step.action("smoke-test", backend="local", service_name="wine-test", sample_request="sample.json",
                        expected_response="expected.json", requests_count="5")
    assert smoke.status == 0, smoke.stdout
    assert smoke.outputs["status-code"] == "200"
    assert json.loads(smoke.outputs["response"]) == {"result": [2.0, 4.0]}
    assert 0 < float(smoke.outputs["latency-p50-ms"]) <= float(smoke.outputs["latency-p95-ms"])
    assert CANARY not in smoke.everything().replace(f"::add-mask::{CANARY}", "")

    by_uri = step.action("smoke-test", backend="local", scoring_uri=scoring_uri, scoring_key=CANARY2,
                         sample_request="sample.json")
    assert by_uri.status == 0 and by_uri.outputs["status-code"] == "200"
    wrong = step.action("smoke-test", backend="local", scoring_uri=scoring_uri, scoring_key="wrong",
                        sample_request="sample.json")
    assert wrong.status == 1 and wrong.outputs["status-code"] == "401"

    logs = step.action("get-logs", backend="local", service_name="wine-test", tail="5")
    assert logs.status == 0
    text = Path(logs.outputs["logs-path"]).read_text(encoding="utf-8")
    assert "Users's init has completed successfully" in text and "POST /score 200" in text
    assert "::group::wine-test: last 5 of" in logs.stdout
    assert CANARY not in text

    deleted = step.action("delete-service", backend="local", service_name="wine-test")
    assert (deleted.status, deleted.outputs["deleted"]) == (0, "true")
    again = step.action("delete-service", backend="local", service_name="wine-test")
    assert (again.status, again.outputs["deleted"]) == (0, "false")
    with pytest.raises(requests.ConnectionError):
        requests.post(scoring_uri, "{}", timeout=5, proxies={"http": "", "https": ""})


def test_broken_score_py_fails_in_the_preflight(step: Step, project) -> None:
    project.write("src/score.py", "def init(model_path):\n    pass\n\ndef run(raw):\n    return raw\n")
    result = _deploy(step)
    assert result.status == 1
    assert "::error title=mlops-ci deploy-aci%3A service failure::'score.py' defines init(model_path)" in result.stdout
    assert "**What happened:** 'score.py' defines init(model_path)" in result.summary
    assert "**How to fix it:** Define `def init():`" in result.summary
    listed = step.action("get-logs", backend="local", service_name="wine-test")
    assert listed.status == 2  # nothing was deployed


def test_failed_smoke_test_shows_the_server_log_and_leaves_nothing_running(step: Step, project) -> None:
    project.json("expected.json", {"result": [99]})
    result = _deploy(step, expected_response="expected.json")
    assert result.status == 1
    assert "differs from the expected response" in result.summary
    assert "::group::deploy-aci: logs" in result.stdout
    assert "Worker with pid" in result.stdout  # the server's own log lines, in the group
    assert "Logs (last" in result.summary
    logs = step.action("get-logs", backend="local", service_name="wine-test")
    assert logs.status == 0 and "Users's init has completed successfully" in Path(
        logs.outputs["logs-path"]).read_text(encoding="utf-8")


@pytest.mark.parametrize(("task", "inputs", "input_name"), [
    ("deploy-aci", {"model": ""}, "model"),
    ("deploy-aci", {"model": "factor:latest"}, "model"),
    ("deploy-aci", {"model": "unknown-model"}, "model"),
    ("deploy-aci", {"model": "factor:7"}, "model"),
    ("deploy-aci", {"service_name": "bad name"}, "service-name"),
    ("deploy-aci", {"deployment_config": "typo.json"}, "deployment-config"),
    ("deploy-aci", {"deployment_config": "aks.json"}, "deployment-config"),
    ("deploy-aci", {"sample_request": "broken.json"}, "sample-request"),
    ("deploy-aci", {"inference_config": "missing.json"}, "inference-config"),
    ("deploy-aci", {"timeout_minutes": "soon"}, "timeout-minutes"),
    ("promote-aks", {"source_service": "wine-test", "deployment_config": "aks.json"}, "model"),
    ("promote-aks", {"source_service": "nowhere", "model": "", "inference_config": "",
                     "deployment_config": "aks.json"}, "source-service"),
    ("deploy-aci", {"aks_cluster": "aks-prod"}, "aks-cluster"),
    ("promote-aks", {"aks_cluster": "aks-other", "deployment_config": "aks-named.json"}, "aks-cluster"),
    ("promote-aks", {"aks_cluster": "bad name", "deployment_config": "aks.json"}, "aks-cluster"),
    ("smoke-test", {"service_name": "", "sample_request": "sample.json"}, "scoring-uri"),
    ("smoke-test", {"scoring_uri": "ftp://x", "sample_request": "sample.json"}, "scoring-uri"),
    ("smoke-test", {"service_name": "nowhere", "sample_request": "sample.json"}, "service-name"),
    ("get-logs", {"service_name": "nowhere"}, "service-name"),
], ids=["no-model", "bad-version", "unknown-model", "missing-version", "bad-service-name", "config-typo",
        "aks-config-for-aci", "sample-not-json", "no-inference-config", "bad-timeout", "source-with-model",
        "source-missing", "aks-cluster-for-aci", "aks-cluster-clashes-with-config", "aks-cluster-bad-name",
        "smoke-no-target", "smoke-bad-uri", "smoke-unknown-service", "logs-unknown-service"])
def test_bad_inputs_exit_2_naming_the_input(step: Step, project, task: str, inputs: dict[str, str],
                                            input_name: str) -> None:
    project.json("typo.json", {"computeType": "ACI", "authEnabeld": True})
    project.json("aks.json", {"computeType": "AKS", "numReplicas": 1})
    project.json("aks-named.json", {"computeType": "AKS", "numReplicas": 1, "computeTargetName": "aks-prod"})
    project.write("broken.json", "{not json")
    values = {"backend": "local", "model": "factor", "service_name": "wine-test",
              "inference_config": "inferenceconfig.json", "sample_request": "sample.json", **inputs}
    result = step.action(task, **values)
    assert result.status == 2, result.stdout
    errors = [line for line in result.annotations if line.startswith("::error")]
    assert len(errors) == 1
    assert "Traceback" not in result.everything()
    assert f"'{input_name}'" in errors[0] or f"input '{input_name}'" in result.summary


def test_clashing_aks_cluster_names_both_and_touches_nothing(step: Step, project) -> None:
    project.json("aks-named.json", {"computeType": "AKS", "numReplicas": 1, "computeTargetName": "aks-prod"})
    result = step.action("promote-aks", backend="local", model="factor", service_name="wine-prod",
                         inference_config="inferenceconfig.json", sample_request="sample.json",
                         deployment_config="aks-named.json", aks_cluster="aks-other")
    assert result.status == 2, result.stdout
    error = next(line for line in result.annotations if line.startswith("::error"))
    assert "'aks-other'" in error and "'aks-prod'" in error and "aks-named.json" in error
    services = step.action("get-logs", backend="local", service_name="wine-prod")
    assert services.status == 2  # nothing was deployed


def test_local_promote_records_the_aks_cluster(step: Step, project) -> None:
    project.json("aks.json", {"computeType": "AKS", "numReplicas": 1})
    result = step.action("promote-aks", backend="local", model="factor", service_name="wine-prod",
                         inference_config="inferenceconfig.json", sample_request="sample.json",
                         deployment_config="aks.json", aks_cluster="aks-prod")
    try:
        assert result.status == 0, result.stdout + result.stderr
        assert "| cluster | `aks-prod` (recorded only: the local backend serves on this machine) |" in result.summary
        service = LocalBackend(LocalWorkspace(Path.cwd() / ".mlops-ci"), Runner({})).get_service("wine-prod")
        assert service.deployment is not None and service.deployment.compute_target_name == "aks-prod"
    finally:
        step.action("delete-service", backend="local", service_name="wine-prod")


def test_deploy_aci_as_a_real_command(step: Step, project, tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    environ["GITHUB_OUTPUT"] = str(tmp_path / "out.txt")
    command = [str(Path(sys.executable).with_name("mlops-ci")), "deploy-aci", "--backend", "local",
               "--model", "factor:1", "--service-name", "cli-test", "--inference-config", "inferenceconfig.json",
               "--sample-request", "sample.json", "--json"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["scoring-key"] == "***" and printed["service-state"] == "Healthy"
    with requests.Session() as http:
        http.trust_env = False
        key = (tmp_path / "out.txt").read_text(encoding="utf-8").split("scoring-key=")[1].splitlines()[0]
        reply = http.post(printed["scoring-uri"], '{"data": [1]}', headers={"Authorization": f"Bearer {key}"})
    assert reply.json() == {"result": [2.0]}
    # The command returned and the endpoint still serves: it lives until delete-service.
    assert step.action("delete-service", backend="local", service_name="cli-test").outputs["deleted"] == "true"


def test_score_py_edits_after_deploy_do_not_change_the_service(step: Step, project) -> None:
    assert _deploy(step).status == 0
    project.write("src/score.py", SCORE_PLAIN.replace("x * factor", "x * factor * 100"))
    smoke = step.action("smoke-test", backend="local", service_name="wine-test", sample_request="sample.json",
                        requests_count="1")
    assert json.loads(smoke.outputs["response"]) == {"result": [2.0, 4.0]}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_services_command_lists_and_prints_keys_only_on_a_terminal(step: Step, project) -> None:
    project.json("dc.json", {"computeType": "ACI", "keys": {"primaryKey": CANARY, "secondaryKey": CANARY2}})
    assert _deploy(step, deployment_config="dc.json").status == 0
    listed = step.cli("services", "list", "--workspace-dir", ".mlops-ci")
    assert listed.status == 0
    assert "wine-test" in listed.stdout and "Healthy" in listed.stdout and "factor:1" in listed.stdout
    shown = step.cli("services", "show", "wine-test", "--workspace-dir", ".mlops-ci")
    assert json.loads(shown.stdout)["state"] == "Healthy" and CANARY not in shown.stdout
    piped = step.cli("services", "keys", "wine-test", "--workspace-dir", ".mlops-ci")
    assert piped.status == 2 and CANARY not in piped.everything()
    terminal = _Terminal()
    status = main(["services", "keys", "wine-test", "--workspace-dir", ".mlops-ci"], environ={},
                  stdout=terminal, stderr=io.StringIO())
    assert status == 0 and f"primary   {CANARY}" in terminal.getvalue()


def test_local_deploy_never_imports_azureml(step: Step, project, tmp_path: Path) -> None:
    code = ("import io, sys\nfrom mlops_ci.cli import main\n"
            "argv = ['deploy-aci', '--backend', 'local', '--model', 'factor', '--service-name', 'plain',"
            " '--inference-config', 'inferenceconfig.json', '--sample-request', 'sample.json']\n"
            "status = main(argv, environ={}, stdout=io.StringIO(), stderr=io.StringIO())\n"
            "main(['delete-service', '--backend', 'local', '--service-name', 'plain'], environ={},"
            " stdout=io.StringIO(), stderr=io.StringIO())\n"
            "print(status, sorted({m.split('.')[0] for m in sys.modules if m.startswith(('azureml', 'flask'))}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == "0 []", done.stdout + done.stderr
