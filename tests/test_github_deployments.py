"""GitHub Deployments for deploy-aci and promote-aks, through real PyGithub against the loopback fake API."""

from __future__ import annotations

import pytest

from mlops_ci.errors import InputError, OperationTimeout, ServiceError
from mlops_ci.github import hooks
from mlops_ci.inputs import Inputs
from tests.fakes.github_api import FakeGithub
from tests.github_support import HEAD_SHA, MERGE_SHA, TOKEN, hook_run, run_hooks

URI = "http://127.0.0.1:5001/score"


def test_deploy_aci_records_a_deployment_in_progress_then_success(github: FakeGithub,
                                                                   pr_env: dict[str, str]) -> None:
    run = run_hooks(pr_env, "deploy-aci", {"service-name": "wine-pr17"},
                    {"service-name": "wine-pr17", "scoring-uri": URI})
    [deployment] = github.deployments()
    assert deployment["ref"] == HEAD_SHA, "the pull request's head, not the merge commit"
    assert deployment["environment"] == "test"
    assert deployment["transient_environment"] is True and deployment["production_environment"] is False
    assert deployment["payload"] == {"service-name": "wine-pr17", "task": "deploy-aci"}
    statuses = github.statuses(deployment["id"])
    assert [s["state"] for s in statuses] == ["in_progress", "success"]
    assert statuses[-1]["environment_url"] == URI
    assert statuses[-1]["log_url"] == "https://github.example/octo-org/wine-quality/actions/runs/777"
    writes = [(r.method, r.path.split("/")[-1]) for r in github.requests if r.method in ("POST", "PATCH")]
    assert writes == [("POST", "deployments"), ("POST", "statuses"), ("POST", "statuses"), ("POST", "comments")]
    assert run.warnings == []


def test_promote_aks_is_a_production_deployment_and_deactivates_the_previous_one(github: FakeGithub,
                                                                                 pr_env: dict[str, str]) -> None:
    push = {**pr_env, "GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/tags/v1.2.0"}
    run_hooks(push, "promote-aks", {"service-name": "wine-prod"}, {"scoring-uri": URI})
    run_hooks(push, "promote-aks", {"service-name": "wine-prod"}, {"scoring-uri": URI + "?v=2"})
    first, second = sorted(github.deployments(), key=lambda d: d["id"])
    assert first["environment"] == second["environment"] == "production"
    assert second["production_environment"] is True and second["transient_environment"] is False
    assert second["ref"] == MERGE_SHA, "outside a pull request GITHUB_SHA is the commit deployed"
    assert [s["state"] for s in github.statuses(first["id"])] == ["in_progress", "success", "inactive"]
    assert [s["state"] for s in github.statuses(second["id"])] == ["in_progress", "success"]
    assert github.comments(17) == [], "no pull request, no comment"


@pytest.mark.parametrize("error", [
    ServiceError("The smoke test failed.", outputs={"rolled-back": "true"}),
    OperationTimeout("The deployment did not finish within 1 minute."),
    KeyboardInterrupt(),
], ids=["service-error", "timeout", "interrupted"])
def test_failed_deployment_ends_with_a_failure_status(github: FakeGithub, pr_env: dict[str, str],
                                                      error: BaseException) -> None:
    run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "pr-comment": "false"}, error=error)
    [deployment] = github.deployments()
    statuses = github.statuses(deployment["id"])
    assert [s["state"] for s in statuses] == ["in_progress", "failure"]
    assert statuses[-1]["environment_url"] == ""


def test_environment_input_names_the_environment(github: FakeGithub, pr_env: dict[str, str]) -> None:
    run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "environment": "review/pr-17"}, {"scoring-uri": URI})
    assert [d["environment"] for d in github.deployments()] == ["review/pr-17"]


@pytest.mark.parametrize(("task", "inputs"), [
    ("deploy-aci", {"github-deployment": "false"}),
    ("smoke-test", {}),
    ("register-model", {}),
], ids=["turned-off", "smoke-test", "register-model"])
def test_no_deployment_unless_a_deploying_task_asks(github: FakeGithub, pr_env: dict[str, str], task: str,
                                                    inputs: dict[str, str]) -> None:
    run_hooks(pr_env, task, {"service-name": "svc", "model-name": "m", "pr-comment": "false", **inputs},
              {"scoring-uri": URI})
    assert github.deployments() == []


def test_deployments_permission_missing_is_a_warning_and_the_comment_still_goes(github: FakeGithub,
                                                                              pr_env: dict[str, str]) -> None:
    github.add_token(TOKEN, ("contents", "pull-requests"))
    run = run_hooks(pr_env, "deploy-aci", {"service-name": "svc"}, {"scoring-uri": URI})
    assert github.deployments() == []
    [warning] = run.warnings
    assert "create the GitHub deployment" in warning and "Resource not accessible by integration" in warning
    assert "deployments: write" in warning
    assert len(github.comments(17)) == 1


def test_status_refused_after_creation_is_a_warning(github: FakeGithub, pr_env: dict[str, str]) -> None:
    github.fail("POST", r"/statuses$", 500, "boom", times=10)
    run = run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "pr-comment": "false"}, {"scoring-uri": URI})
    assert len(github.deployments()) == 1
    assert len(run.warnings) == 1 and "GitHub answered 500" in run.warnings[0]


def test_hooks_do_nothing_outside_actions_but_still_check_inputs(github: FakeGithub) -> None:
    run = hook_run({})
    assert isinstance(hooks.for_task("deploy-aci", Inputs({"service-name": "s"}), run.runner, {}, frozenset()),
                      hooks.NoHooks)
    with pytest.raises(InputError) as caught:
        hooks.for_task("deploy-aci", Inputs({"github-deployment": "yes"}), run.runner, {}, frozenset())
    assert caught.value.input_name == "github-deployment"
    with pytest.raises(InputError) as caught:
        hooks.for_task("deploy-aci", Inputs({"environment": "a\nb"}), run.runner, {}, frozenset())
    assert caught.value.input_name == "environment"


def test_missing_token_is_one_warning(pr_env: dict[str, str]) -> None:
    run = hook_run(pr_env)
    step = hooks.for_task("deploy-aci", Inputs({"service-name": "s"}), run.runner, pr_env, frozenset())
    assert isinstance(step, hooks.NoHooks)
    assert len(run.warnings) == 1 and "No GitHub token" in run.warnings[0]
