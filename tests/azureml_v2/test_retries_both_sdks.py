"""The retry table on both SDKs: each transient fault is ridden over by our retries (not the SDK's), limits hold."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from mlops_ci.github import oidc
from tests.azureml_v1.conftest import AzureStep, assert_no_canary, assert_only_azure
from tests.azureml_v2.conftest import SDK_WARNINGS
from tests.fakes import oidc as fake_oidc
from tests.fakes.oidc import FakeOidc

pytestmark = SDK_WARNINGS

# delete-service looks the service up first: a v1 web service, a v2 online endpoint.
LOOKUP = {"v1": ("GET", r"/services/gone$", "Looking up service gone"),
          "v2": ("GET", r"/onlineEndpoints/gone$", "Looking up online endpoint gone")}


def sdk_of(step: AzureStep) -> str:
    return "v2" if step.inputs().get("azureml_sdk") == "v2" else "v1"


@pytest.mark.parametrize(("kind", "options", "said"), [
    ("throttle", {"retry_after": 1}, "HTTP 429; retrying in 1.0 s"),  # the service's 1 s, not our 0.05 s back-off
    (503, {}, "HTTP 503; retrying in"),
    ("reset", {}, "connection problem"),
    ("conflict", {}, "409 another operation is in progress; retrying"),
], ids=["429-retry-after", "503", "reset", "409-in-progress"])
def test_each_fault_is_retried_by_us(any_sdk_step: AzureStep, kind: object, options: dict[str, object],
                                     said: str) -> None:
    method, path, what = LOOKUP[sdk_of(any_sdk_step)]
    # Two in a row: the SDK's own retries (turned off on v2, down on v1) must leave them to ours.
    fault = any_sdk_step.emulator.fail(method, path, kind, times=2, **options)
    result = any_sdk_step.action("delete-service", service_name="gone")
    assert result.status == 0, result.stdout + result.stderr
    assert result.outputs["deleted"] == "false" and fault.delivered == 2
    assert len(re.findall(rf"{what}: [^\n]*; retrying in", result.stdout)) == 2, result.stdout
    assert said in result.stdout
    assert_no_canary(any_sdk_step.emulator, result)


def test_a_fault_that_never_clears_gives_up(any_sdk_step: AzureStep) -> None:
    method, path, what = LOOKUP[sdk_of(any_sdk_step)]
    fault = any_sdk_step.emulator.fail(method, path, 503, times=1000)
    result = any_sdk_step.action("delete-service", service_name="gone", env={"MLOPS_CI_RETRY_ATTEMPTS": "3"})
    assert result.status == 1, result.stdout
    assert f"{what} failed 3 times in a row (HTTP 503)" in result.stdout
    assert "attempt 3: HTTP 503" in result.summary
    assert fault.delivered == 3  # one request per attempt of ours: no hidden retries underneath


@pytest.fixture
def oidc_service() -> Iterator[FakeOidc]:
    yield from fake_oidc.running("repo:octo-org/wine-models:ref:refs/heads/main")


def test_v2_signs_in_with_github_oidc(v2_step: AzureStep, oidc_service: FakeOidc,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = v2_step.emulator
    # GitHub's token service is on loopback http: it must not go through the emulator's proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    emulator.federated_assertion = oidc_service.token_for(oidc.DEFAULT_AUDIENCE)
    result = v2_step.step.action(
        "delete-service", env={**emulator.env, "NO_PROXY": "127.0.0.1", **oidc_service.env},
        backend="azureml", azureml_sdk="v2", client_id=emulator.client_id, tenant_id=emulator.tenant_id,
        subscription_id=emulator.subscription_id, workspace_name=emulator.workspace_name,
        resource_group=emulator.resource_group, service_name="gone")
    assert result.status == 0, result.stdout + result.stderr
    assert result.outputs["deleted"] == "false"
    assert emulator.issued_tokens("client_assertion") and not emulator.issued_tokens("client_secret")
    assert emulator.federated_assertion not in result.everything().replace(
        f"::add-mask::{emulator.federated_assertion}", "")
    assert_only_azure(emulator)


def test_timeout_minutes_bounds_the_retries_of_a_call_without_its_own_deadline(any_sdk_step: AzureStep) -> None:
    method, path, what = LOOKUP[sdk_of(any_sdk_step)]
    any_sdk_step.emulator.fail(method, path, 503, times=1000)
    # 2 s back-off doubling, 20 attempts allowed: only the step's 6 s (timeout-minutes 0.1) can stop it early.
    result = any_sdk_step.action("delete-service", service_name="gone", timeout_minutes="0.1",
                                 env={"MLOPS_CI_RETRY_BASE_SECONDS": "2", "MLOPS_CI_RETRY_ATTEMPTS": "20"})
    assert result.status == 3, result.stdout
    assert f"{what} was still failing (HTTP 503) when its time ran out" in result.stdout
    assert "attempt 2: HTTP 503" in result.summary
