"""Our retries against scripted faults: each transient fault is ridden over with a progress line; limits hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops_ci.backends.azure_common import retry
from mlops_ci.errors import OperationTimeout, ServiceError
from mlops_ci.runner import Runner
from tests.azureml_v1.conftest import AzureStep, assert_no_canary

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

SERVICE = r"/services/gone$"


@pytest.mark.parametrize(("kind", "options", "said"), [
    ("throttle", {"retry_after": 1}, "HTTP 429"),
    (500, {}, "HTTP 500"),
    (502, {}, "HTTP 502"),
    (503, {}, "HTTP 503"),
    (504, {}, "HTTP 504"),
    ("reset", {}, "connection problem"),
], ids=["429-retry-after", "500", "502", "503", "504", "reset"])
def test_transient_faults_are_retried(azure_step: AzureStep, model_path: Path, kind: object,
                                      options: dict[str, object], said: str) -> None:
    # Enough faults in a row to get past the SDK's own (turned down) retries and reach ours.
    fault = azure_step.emulator.fail("GET", SERVICE, kind, times=2, **options)
    result = azure_step.action("delete-service", service_name="gone")
    assert result.status == 0, result.stdout + result.stderr
    assert result.outputs["deleted"] == "false" and fault.delivered == 2
    assert re.search(rf"Looking up service gone: {said}[^;\n]*; retrying in", result.stdout), result.stdout
    assert_no_canary(azure_step.emulator, result)


def test_retry_after_is_honoured(azure_step: AzureStep, model_path: Path) -> None:
    azure_step.emulator.fail("GET", SERVICE, "throttle", times=1, retry_after=1)
    result = azure_step.action("delete-service", service_name="gone")
    assert result.status == 0
    assert "HTTP 429; retrying in 1.0 s" in result.stdout  # the service's 1 s, not our 0.05 s back-off


def test_conflict_in_progress_waits(azure_step: AzureStep, model_path: Path) -> None:
    azure_step.emulator.fail("GET", SERVICE, "conflict", times=1)
    result = azure_step.action("delete-service", service_name="gone")
    assert result.status == 0, result.stdout
    assert "409 another operation is in progress; retrying" in result.stdout


def test_a_fault_that_never_clears_gives_up(azure_step: AzureStep, model_path: Path) -> None:
    azure_step.emulator.fail("GET", SERVICE, 503, times=1000)
    result = azure_step.action("delete-service", service_name="gone", env={"MLOPS_CI_RETRY_ATTEMPTS": "3"})
    assert result.status == 1, result.stdout
    assert "Looking up service gone failed 3 times in a row (HTTP 503)" in result.stdout
    assert "::group::delete-service: logs" in result.stdout and "attempt 3: HTTP 503" in result.summary


def test_wrong_secret_and_unknown_workspace_name_the_input(azure_step: AzureStep, model_path: Path) -> None:
    emulator = azure_step.emulator
    wrong = azure_step.action("register-model", model_path=str(model_path), model_name="wine",
                              azure_credentials=azure_step.credentials.replace(emulator.client_secret, "x" * 40))
    assert wrong.status == 2 and "AADSTS7000215" in wrong.stdout and "client-secret" in wrong.stdout
    missing = azure_step.action("register-model", model_path=str(model_path), model_name="wine",
                                workspace_name="no-such-ws")
    assert missing.status == 2 and "workspace 'no-such-ws' was not found" in missing.stdout
    assert_no_canary(emulator, wrong, missing)


def test_bad_tuning_variable_is_bad_input(azure_step: AzureStep, model_path: Path) -> None:
    result = azure_step.action("register-model", model_path=str(model_path), model_name="wine",
                               env={"MLOPS_CI_POLL_SECONDS": "soon"})
    assert result.status == 2 and "MLOPS_CI_POLL_SECONDS" in result.stdout


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Throttled(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"Response Code: {status}\nHeaders: {{'Retry-After': '{retry_after}'}}" if retry_after
                         else f"Response Code: {status}")


@pytest.mark.parametrize(("errors", "expected"), [
    ([Throttled(503), Throttled(503), Throttled(503)], [2.0, 4.0, 8.0]),
    ([Throttled(429, "30"), Throttled(429, "1")], [30.0, 4.0]),
    ([Throttled(429, "999")], [60.0]),
], ids=["exponential", "retry-after-wins-when-longer", "capped"])
def test_backoff_schedule(errors: list[Exception], expected: list[float]) -> None:
    clock = FakeClock()
    retrier = retry.Retrier(Runner({}), retry.RetryPolicy(), clock=lambda: clock.now, sleep=clock.sleep)
    pending = list(errors)

    def call() -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    assert retrier.call("x", call) == "ok"
    assert clock.slept == expected


def test_deadline_bounds_every_wait() -> None:
    clock = FakeClock()
    retrier = retry.Retrier(Runner({}), retry.RetryPolicy(), clock=lambda: clock.now, sleep=clock.sleep)
    with pytest.raises(OperationTimeout, match="still failing"):
        retrier.call("x", lambda: (_ for _ in ()).throw(Throttled(429, "120")), deadline=30.0)
    assert clock.slept == []


def test_not_transient_propagates_at_once() -> None:
    retrier = retry.Retrier(Runner({}), retry.RetryPolicy())
    with pytest.raises(Throttled):
        retrier.call("x", lambda: (_ for _ in ()).throw(Throttled(400)))
    assert not isinstance(Throttled(400), ServiceError)
