"""The pull-request comment, through real PyGithub against the loopback fake of GitHub's REST API."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from mlops_ci.errors import ServiceError
from mlops_ci.github import comment
from tests.fakes.github_api import FakeGithub
from tests.github_support import HEAD_SHA, PULL, TOKEN, run_hooks
from tests.harness import Step

MARKER = re.compile(r"^<!-- mlops-ci:pr-comment [0-9a-f]{20} -->")


def marked(github: FakeGithub) -> list[dict[str, str]]:
    return [c for c in github.comments(PULL) if MARKER.match(c["body"])]


def test_register_model_comments_once_then_updates_in_place(step: Step, model_file: Path, github: FakeGithub,
                                                           pr_env: dict[str, str]) -> None:
    for i in range(3):  # other people's comments first: ours is found on a later page
        github.seed_comment(PULL, f"review remark {i}")
    first = step.action("register-model", env=pr_env, backend="local", model_path="models/wine.onnx",
                        model_name="wine", github_token=TOKEN)
    assert first.status == 0, first.stdout + first.stderr
    [created] = marked(github)
    assert "model `wine`" in created["body"] and "`wine:1`" in created["body"]
    assert f"`{HEAD_SHA[:7]}`" in created["body"], "the comment names the pull request's head commit"

    second = step.action("register-model", env=pr_env, backend="local", model_path="models/wine.onnx",
                         model_name="wine", github_token=TOKEN)
    assert second.status == 0
    [updated] = marked(github)
    assert updated["id"] == created["id"]
    assert "`model-reused` | `true`" in updated["body"]
    assert len(github.comments(PULL)) == 4
    assert [r.method for r in github.calls(path_regex="comments")].count("POST") == 1
    assert len(github.calls("PATCH")) == 1
    assert TOKEN not in updated["body"] and TOKEN not in second.everything().replace(f"::add-mask::{TOKEN}", "")


@pytest.mark.parametrize(("task_inputs", "env_change"), [
    ({"pr_comment": "false"}, {}),
    ({}, {"GITHUB_EVENT_NAME": "push"}),
    ({}, {"GITHUB_ACTIONS": ""}),
], ids=["pr-comment-false", "push-event", "outside-actions"])
def test_no_comment_when_not_asked_or_not_a_pull_request(step: Step, model_file: Path, github: FakeGithub,
                                                         pr_env: dict[str, str], task_inputs: dict[str, str],
                                                         env_change: dict[str, str]) -> None:
    result = step.action("register-model", env={**pr_env, **env_change}, backend="local",
                         model_path="models/wine.onnx", model_name="wine", github_token=TOKEN, **task_inputs)
    assert result.status == 0
    assert result.outputs["model-id"] == "wine:1"
    assert github.requests == []


def test_register_dataset_does_not_comment(step: Step, github: FakeGithub, pr_env: dict[str, str]) -> None:
    Path("data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = step.action("register-dataset", env=pr_env, backend="local", dataset_path="data.csv",
                         dataset_name="wine-data", github_token=TOKEN)
    assert result.status == 0, result.stdout
    assert github.requests == []


@pytest.mark.parametrize(("scopes", "token", "expected"), [
    (("contents",), "ghs_readonly", "Resource not accessible by integration"),
    (None, "ghs_unknown", "Bad credentials"),
], ids=["token-without-permission", "bad-token"])
def test_refused_comment_is_a_warning_not_a_failed_step(step: Step, model_file: Path, github: FakeGithub,
                                                       pr_env: dict[str, str], scopes: tuple[str, ...] | None,
                                                       token: str, expected: str) -> None:
    if scopes is not None:
        github.add_token(token, scopes)
    result = step.action("register-model", env=pr_env, backend="local", model_path="models/wine.onnx",
                         model_name="wine", github_token=token)
    assert result.status == 0
    assert result.outputs["model-id"] == "wine:1"
    [warning] = [a for a in result.annotations if a.startswith("::warning")]
    assert expected in warning and "comment on the pull request" in warning
    assert marked(github) == []
    assert "mlops-ci `register-model`" in result.summary


def test_github_outage_is_a_bounded_warning(step: Step, model_file: Path, github: FakeGithub,
                                            pr_env: dict[str, str]) -> None:
    github.fail("*", "comments", 502, "Bad Gateway", times=100)
    started = time.monotonic()
    result = step.action("register-model", env=pr_env, backend="local", model_path="models/wine.onnx",
                         model_name="wine", github_token=TOKEN)
    assert result.status == 0
    assert any("GitHub answered 502" in a for a in result.annotations if a.startswith("::warning"))
    assert len(github.calls()) <= 3, "retries are bounded"
    assert time.monotonic() - started < 10


def test_bad_pr_comment_value_is_an_input_error(step: Step, model_file: Path) -> None:
    result = step.cli("register-model", "--model-path", "models/wine.onnx", "--model-name", "wine",
                      "--pr-comment", "sometimes")
    assert result.status == 2
    assert "Input 'pr-comment' must be true or false" in result.stderr


def test_tasks_of_one_service_share_a_comment(github: FakeGithub, pr_env: dict[str, str]) -> None:
    outputs = {"service-name": "wine-pr17", "scoring-uri": "http://127.0.0.1:5001/score", "model-ids": "wine:3"}
    run_hooks(pr_env, "deploy-aci", {"service-name": "wine-pr17", "github-deployment": "false"}, outputs)
    run_hooks(pr_env, "smoke-test", {"service-name": "wine-pr17"},
              {"status-code": "200", "latency-p50-ms": "3.1", "latency-p95-ms": "4.8"})
    run_hooks(pr_env, "deploy-aci", {"service-name": "other", "github-deployment": "false"},
              {"scoring-uri": "http://127.0.0.1:5002/score"})
    bodies = [c["body"] for c in marked(github)]
    assert len(bodies) == 2
    [shared] = [b for b in bodies if "wine-pr17" in b]
    assert "`deploy-aci` succeeded" in shared and "`smoke-test` succeeded" in shared
    assert "<http://127.0.0.1:5001/score>" in shared and "`latency-p95-ms` | `4.8`" in shared
    assert shared.index("`deploy-aci`") < shared.index("`smoke-test`")


def test_another_workflow_gets_its_own_comment(github: FakeGithub, pr_env: dict[str, str]) -> None:
    run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "github-deployment": "false"}, {"model-ids": "m:1"})
    run_hooks({**pr_env, "GITHUB_WORKFLOW": "nightly"}, "deploy-aci", {"service-name": "svc",
                                                                       "github-deployment": "false"},
              {"model-ids": "m:1"})
    assert len(marked(github)) == 2


def test_failure_shows_in_the_comment_and_a_later_success_replaces_it(github: FakeGithub,
                                                                      pr_env: dict[str, str]) -> None:
    error = ServiceError("The smoke test of service 'svc' got 500.", fix="Read the service logs.",
                         outputs={"rolled-back": "true"})
    run_hooks(pr_env, "promote-aks", {"service-name": "svc", "github-deployment": "false"}, error=error)
    [failed] = marked(github)
    assert "### ❌" in failed["body"] and "`promote-aks` failed" in failed["body"]
    assert "got 500" in failed["body"] and "`rolled-back` | `true`" in failed["body"]
    run_hooks(pr_env, "promote-aks", {"service-name": "svc", "github-deployment": "false"}, {"rolled-back": "false"})
    [fixed] = marked(github)
    assert fixed["id"] == failed["id"] and "### ✅" in fixed["body"] and "got 500" not in fixed["body"]


def test_secrets_never_reach_the_comment(github: FakeGithub, pr_env: dict[str, str]) -> None:
    canary = "Canary-scoring-key-8c1f0e"
    outputs = {"scoring-key": canary, "scoring-uri": f"http://127.0.0.1:1/score?k={canary}"}
    run = run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "github-deployment": "false"}, outputs,
                    mask=canary)
    [body] = [c["body"] for c in marked(github)]
    assert "scoring-key" not in body, "secret outputs are left out"
    assert canary not in body and "***" in body
    state = comment.parse_state(body, "pull-request", "service:svc")
    assert canary not in repr(state)
    assert all(TOKEN not in r.path and TOKEN not in str(r.body) for r in github.requests)
    assert run.warnings == []


def test_oldest_of_two_marked_comments_is_updated_and_none_created(github: FakeGithub,
                                                                   pr_env: dict[str, str]) -> None:
    key = comment.comment_key("pull-request", "service:svc")
    older = github.seed_comment(PULL, comment.MARKER.format(key=key) + "\nleft by a concurrent run")
    github.seed_comment(PULL, comment.MARKER.format(key=key) + "\nand another")
    run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "github-deployment": "false"}, {"model-ids": "m:1"})
    assert github.calls("POST") == []
    assert [r.path.rsplit("/", 1)[1] for r in github.calls("PATCH")] == [str(older["id"])]


def test_unreadable_state_starts_afresh(github: FakeGithub, pr_env: dict[str, str]) -> None:
    key = comment.comment_key("pull-request", "service:svc")
    github.seed_comment(PULL, comment.MARKER.format(key=key) + "\n<!-- mlops-ci:state {not json} -->")
    run = run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "github-deployment": "false"}, {"model-ids": "m:1"})
    [body] = [c["body"] for c in marked(github)]
    assert "`m:1`" in body and "{not json}" not in body
    assert run.warnings == []


@pytest.mark.parametrize(("workflow", "value"), [
    ("a --> b", "x --> <script>"),
    ("naïve “quotes”", "line|pipe"),
], ids=["html-comment-breakers", "unicode-and-pipes"])
def test_state_survives_awkward_text(workflow: str, value: str) -> None:
    state = comment.CommentState(workflow=workflow, subject="service:s")
    state.sections["deploy-aci"] = comment.Section(task="deploy-aci", ok=True, at="now",
                                                   fields=(("model-ids", value),))
    from mlops_ci.github.event import GithubEvent

    body = comment.render(state, GithubEvent(repository="o/r", sha="a" * 40), "service", "s")
    stored = re.search(r"<!-- mlops-ci:state (.*?) -->", body, re.S)
    assert stored is not None and "--" not in stored.group(1) and ">" not in stored.group(1)
    again = comment.parse_state(body, workflow, "service:s")
    assert again.sections["deploy-aci"].fields == (("model-ids", value),)


def test_a_comment_created_concurrently_is_folded_into_the_oldest(github: FakeGithub, pr_env: dict[str, str]) -> None:
    key = comment.comment_key("pull-request", "service:svc")
    issue_comments = "/repos/octo-org/wine-quality/issues/17/comments"
    # Another step creates its comment between our look-up (which found nothing) and our creation.
    original = github.route

    def racing(method, path, query, body, token):  # type: ignore[no-untyped-def]
        if method == "POST" and path == issue_comments and not marked(github):
            github._new_comment(PULL, comment.MARKER.format(key=key) + "\\nfrom the other step", "github-actions[bot]")
        return original(method, path, query, body, token)

    github.route = racing  # type: ignore[method-assign]
    run_hooks(pr_env, "deploy-aci", {"service-name": "svc", "github-deployment": "false"}, {"model-ids": "m:1"})
    [survivor] = marked(github)
    assert "from the other step" not in survivor["body"] and "`m:1`" in survivor["body"]
    assert [r.method for r in github.calls(path_regex="comments")] == ["GET", "POST", "GET", "DELETE", "PATCH"]
