"""GitHub OIDC sign-in: the ID token from a loopback fake of GitHub's token service, exchanged at the emulator's Entra ID."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_ci.cli import report_failure
from mlops_ci.credentials import AzureCredentials
from mlops_ci.errors import InputError, ServiceError
from mlops_ci.github import oidc
from mlops_ci.runner import Runner
from tests.azure_emulator.emulator import AzureEmulator
from tests.fakes import oidc as fake_oidc
from tests.fakes.oidc import FakeOidc

SUBJECT = "repo:octo-org/wine-quality:environment:production"


@pytest.fixture
def oidc_service() -> Iterator[FakeOidc]:
    yield from fake_oidc.running(SUBJECT)


def actions_runner(environ: dict[str, str]) -> tuple[Runner, io.StringIO]:
    stdout = io.StringIO()
    return Runner({"GITHUB_ACTIONS": "true", **environ}, stdout, io.StringIO()), stdout


@pytest.mark.parametrize("audience", [oidc.DEFAULT_AUDIENCE, "api://custom audience/x"], ids=["default", "custom"])
def test_id_token_is_requested_for_the_audience_and_masked(oidc_service: FakeOidc, audience: str) -> None:
    environ = {"GITHUB_ACTIONS": "true", **oidc_service.env}
    runner, stdout = actions_runner(environ)
    token = oidc.request_id_token(environ, runner, audience)
    assert oidc.token_claims(token)["aud"] == audience
    [request] = oidc_service.requests
    assert request["query"]["audience"] == [audience] and request["query"]["api-version"] == ["2.0"]
    assert request["authorization"] == f"Bearer {oidc_service.request_token}"
    masks = [line for line in stdout.getvalue().splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{token}" in masks and f"::add-mask::{oidc_service.request_token}" in masks
    assert runner.redact(f"x {token} y") == "x *** y"


@pytest.mark.parametrize(("environ", "expected"), [
    ({"GITHUB_ACTIONS": "true"}, "id-token: write"),
    ({"GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:9/x"}, "id-token: write"),
    ({}, "only inside a GitHub Actions job"),
], ids=["no-variables", "no-request-token", "outside-actions"])
def test_missing_permission_is_exit_2_with_the_yaml_to_add(tmp_path: Path, environ: dict[str, str],
                                                          expected: str) -> None:
    runner, _ = actions_runner(environ)
    with pytest.raises(InputError) as caught:
        oidc.request_id_token(environ, runner)
    assert expected in caught.value.message
    summary = tmp_path / "summary.md"
    summary.write_text("", encoding="utf-8")
    stdout = io.StringIO()
    boundary = Runner({**environ, "GITHUB_STEP_SUMMARY": str(summary)}, stdout, io.StringIO())
    assert report_failure(boundary, "deploy-aci", caught.value, 0.0) == 2
    if "id-token" in expected:
        assert "```yaml\npermissions:\n  id-token: write\n  contents: read\n```" in summary.read_text("utf-8")


def test_refused_request_token_is_a_service_error(oidc_service: FakeOidc) -> None:
    environ = {**oidc_service.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "expired"}
    runner, _ = actions_runner(environ)
    with pytest.raises(ServiceError, match="answered 401"):
        oidc.request_id_token(environ, runner)


def test_transient_failures_are_retried_a_bounded_number_of_times(oidc_service: FakeOidc) -> None:
    runner, _ = actions_runner(oidc_service.env)
    oidc_service.failures = [503]
    assert oidc.request_id_token(oidc_service.env, runner)
    oidc_service.failures = [503] * 5
    with pytest.raises(ServiceError, match="after 3 attempts"):
        oidc.request_id_token(oidc_service.env, runner)
    assert len(oidc_service.requests) == 2 + 3


@pytest.fixture
def entra(azure_emulator: AzureEmulator, oidc_service: FakeOidc,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[AzureEmulator, AzureCredentials, dict[str, str]]]:
    """The emulator's Entra ID trusting exactly the token GitHub issues for the default audience."""
    for name, value in azure_emulator.env.items():
        monkeypatch.setenv(name, value)
    # GitHub's token service is on loopback http: it must not go through the emulator's proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    azure_emulator.federated_assertion = oidc_service.token_for(oidc.DEFAULT_AUDIENCE)
    credentials = AzureCredentials(client_id=azure_emulator.client_id, tenant_id=azure_emulator.tenant_id,
                                   subscription_id=azure_emulator.subscription_id)
    yield azure_emulator, credentials, {"GITHUB_ACTIONS": "true", **oidc_service.env}


def test_client_assertion_credential_exchanges_the_github_token(entra: tuple[AzureEmulator, AzureCredentials,
                                                                            dict[str, str]]) -> None:
    emulator, credentials, environ = entra
    runner, _ = actions_runner(environ)
    with oidc.federated_credential(credentials, environ, runner) as credential:
        token = credential.get_token("https://management.azure.com/.default")
    assert token.token and token.expires_on > 0
    [issued] = emulator.issued_tokens("client_assertion")
    assert issued["client_id"] == credentials.client_id and issued["access_token"] == token.token
    assert emulator.hosts() == {"login.microsoftonline.com"}


def test_wrong_audience_names_the_subject_and_audience_to_trust(entra: tuple[AzureEmulator, AzureCredentials,
                                                                            dict[str, str]]) -> None:
    emulator, credentials, environ = entra
    runner, _ = actions_runner(environ)
    credential = oidc.federated_credential(dataclasses.replace(credentials, audience="api://wrong"),
                                           environ, runner)
    with pytest.raises(InputError) as caught:
        credential.get_token("https://management.azure.com/.default")
    error = caught.value
    assert error.input_name == "client-id" and "AADSTS700213" in error.message
    assert f"subject '{SUBJECT}'" in error.fix and "audience 'api://wrong'" in error.fix
    assert emulator.issued_tokens() == []
    assert runner.redact(error.message + error.fix) == error.message + error.fix, "no token in the explanation"


def test_missing_permission_is_reported_before_any_azure_call(entra: tuple[AzureEmulator, AzureCredentials,
                                                                          dict[str, str]]) -> None:
    emulator, credentials, _ = entra
    runner, _ = actions_runner({})
    with pytest.raises(InputError, match="id-token: write"):
        oidc.federated_credential(credentials, {"GITHUB_ACTIONS": "true"}, runner)
    assert emulator.requests == []


@pytest.mark.parametrize(("cloud", "host"), [
    ("AzureCloud", "login.microsoftonline.com"),
    ("AzureChinaCloud", "login.chinacloudapi.cn"),
    ("AzureUSGovernment", "login.microsoftonline.us"),
], ids=["public", "china", "us-government"])
def test_authority_follows_the_cloud(oidc_service: FakeOidc, cloud: str, host: str) -> None:
    runner, _ = actions_runner(oidc_service.env)
    credentials = AzureCredentials(client_id="c", tenant_id="t", subscription_id="s", cloud=cloud)
    credential = oidc.federated_credential(credentials, oidc_service.env, runner)
    assert credential.credential._client._authority.rstrip("/").endswith(host)
