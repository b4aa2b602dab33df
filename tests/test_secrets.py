"""A canary secret given to the action never reaches stdout, stderr, the outputs file or the summary unmasked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_ci.errors import ServiceError
from tests.harness import Step, StepResult

CANARY = "canary-7f3a9c-DO-NOT-PRINT"
SUB = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "99999999-8888-7777-6666-555555555555"
SP = json.dumps({"clientId": CLIENT, "clientSecret": CANARY, "subscriptionId": SUB, "tenantId": TENANT})


def assert_no_canary(result: StepResult) -> None:
    for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("outputs", result.output_file),
                        ("summary", result.summary)):
        for line in text.splitlines():
            if where == "stdout" and line.startswith("::add-mask::"):
                continue  # the runner consumes these and never shows them
            assert CANARY not in line, f"canary in {where}: {line}"


@pytest.mark.parametrize(
    "credentials",
    [{"azure_credentials": SP}, {"client_id": CLIENT, "tenant_id": TENANT, "subscription_id": SUB,
                                 "client_secret": CANARY}],
    ids=["json", "split"],
)
def test_canary_credentials_with_local_backend(step: Step, model_file: Path, credentials: dict[str, str]) -> None:
    result = step.action("register-model", backend="local", model_path="models/wine.onnx", model_name="wine",
                         **credentials)
    assert result.status == 0
    assert f"::add-mask::{CANARY}" in result.stdout.splitlines()
    assert any(a.startswith("::warning") and "not used" in a for a in result.annotations)
    assert_no_canary(result)


def test_canary_in_a_failure_message_is_redacted(step: Step, model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_ci.tasks import register_model

    def leaky(options: object, ctx: object) -> None:
        raise ServiceError(f"service said: bad secret {CANARY}", logs=f"line 1\nAuthorization: {CANARY}\n")

    monkeypatch.setattr(register_model, "run", leaky)
    result = step.action("register-model", backend="local", model_path="models/wine.onnx", model_name="wine",
                         azure_credentials=SP)
    assert result.status == 1
    assert "bad secret ***" in result.stdout
    assert_no_canary(result)


def test_canary_in_cli_mode_never_printed(step: Step, model_file: Path) -> None:
    result = step.cli("register-model", "--backend", "local", "--model-path", "models/wine.onnx", "--model-name",
                      "wine", "--azure-credentials", SP, "--json")
    assert result.status == 0
    assert CANARY not in result.stdout + result.stderr + result.output_file + result.summary


def test_canary_in_a_bug_traceback_is_redacted(step: Step, model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_ci.tasks import register_model

    def crash(options: object, ctx: object) -> None:
        raise RuntimeError(f"unexpected {CANARY}")

    monkeypatch.setattr(register_model, "run", crash)
    result = step.action("register-model", backend="local", model_path="models/wine.onnx", model_name="wine",
                         azure_credentials=SP)
    assert result.status == 70 and "RuntimeError: unexpected ***" in result.stderr
    assert_no_canary(result)
