"""A pull request's whole flow on the local backend through main(): the Deployment, its statuses and the comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy_fixtures import make_project, no_stray_processes  # noqa: F401 - fixture
from tests.fakes.github_api import FakeGithub
from tests.github_support import PULL, TOKEN
from tests.harness import Step

KEY = "canary-pr-key-7e6d5c4b3a"


@pytest.fixture
def project(step: Step, no_stray_processes: None, github: FakeGithub, pr_env: dict[str, str]):  # noqa: F811
    project = make_project(Path.cwd())
    project.write("deploymentconfig.yml", f"computeType: ACI\nkeys:\n  primaryKey: {KEY}\n  secondaryKey: {KEY}-2\n")
    registered = step.action("register-model", env=pr_env, backend="local", model_path="models/factor.txt",
                             model_name="factor", github_token=TOKEN)
    assert registered.status == 0, registered.stdout
    return project


def deploy(step: Step, env: dict[str, str]):
    return step.action("deploy-aci", env=env, backend="local", model="factor", service_name="wine-pr-17",
                       inference_config="inferenceconfig.json", deployment_config="deploymentconfig.yml",
                       sample_request="sample.json", github_token=TOKEN)


def test_pull_request_flow_records_the_deployment_and_one_comment_per_subject(
        step: Step, project, github: FakeGithub, pr_env: dict[str, str]) -> None:
    deployed = deploy(step, pr_env)
    assert deployed.status == 0, deployed.stdout
    smoke = step.action("smoke-test", env=pr_env, backend="local", service_name="wine-pr-17",
                        sample_request="sample.json", requests_count="3", github_token=TOKEN)
    assert smoke.status == 0, smoke.stdout
    deleted = step.action("delete-service", env=pr_env, backend="local", service_name="wine-pr-17",
                          github_token=TOKEN)
    assert deleted.status == 0, deleted.stdout

    [deployment] = github.deployments()
    assert deployment["environment"] == "test" and deployment["payload"]["service-name"] == "wine-pr-17"
    statuses = github.statuses(deployment["id"])
    assert [s["state"] for s in statuses] == ["in_progress", "success"]
    assert statuses[-1]["environment_url"] == deployed.outputs["scoring-uri"]

    bodies = {c["body"].split("\n")[1]: c["body"] for c in github.comments(PULL)}
    assert set(bodies) == {"### ✅ mlops-ci · model `factor`", "### ✅ mlops-ci · service `wine-pr-17`"}
    service = bodies["### ✅ mlops-ci · service `wine-pr-17`"]
    for section in ("`deploy-aci` succeeded", "`smoke-test` succeeded", "`delete-service` succeeded"):
        assert section in service
    assert f"<{deployed.outputs['scoring-uri']}>" in service and "`latency-p95-ms`" in service
    assert "`model-ids` | `factor:1`" in service
    for record in github.requests:
        assert KEY not in str(record.body), f"the scoring key reached GitHub in {record.method} {record.path}"
    assert len(github.calls("POST", r"/comments$")) == 2, "created once per subject, then updated"


def test_failed_deployment_ends_in_failure_and_the_comment_says_why(
        step: Step, project, github: FakeGithub, pr_env: dict[str, str]) -> None:
    project.write("src/score.py", "def init(model_path):\n    pass\n\ndef run(raw):\n    return raw\n")
    failed = deploy(step, pr_env)
    assert failed.status == 1, failed.stdout
    [deployment] = github.deployments()
    assert [s["state"] for s in github.statuses(deployment["id"])] == ["in_progress", "failure"]
    [service] = [c["body"] for c in github.comments(PULL) if "service `wine-pr-17`" in c["body"]]
    assert "### ❌" in service and "`deploy-aci` failed" in service and "init" in service
    assert not [a for a in failed.annotations if a.startswith("::warning") and "GitHub" in a]
