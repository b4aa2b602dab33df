"""register-model on the azureml backend signed in with GitHub OIDC: no secret, a federated client assertion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_ci.github import oidc
from tests.azureml_v1.conftest import AzureStep, assert_only_azure
from tests.fakes import oidc as fake_oidc
from tests.fakes.oidc import FakeOidc

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture
def oidc_service() -> Iterator[FakeOidc]:
    yield from fake_oidc.running("repo:octo-org/wine-models:ref:refs/heads/main")


def test_register_model_with_github_oidc(azure_step: AzureStep, oidc_service: FakeOidc, model_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    emulator = azure_step.emulator
    # GitHub's token service is on loopback http: it must not go through the emulator's proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    emulator.federated_assertion = oidc_service.token_for(oidc.DEFAULT_AUDIENCE)
    result = azure_step.step.action(
        "register-model", env={**emulator.env, "NO_PROXY": "127.0.0.1", **oidc_service.env},
        backend="azureml", client_id=emulator.client_id, tenant_id=emulator.tenant_id,
        subscription_id=emulator.subscription_id, workspace_name=emulator.workspace_name,
        resource_group=emulator.resource_group, model_path=str(model_path), model_name="wine")
    assert result.status == 0, result.stdout + result.stderr
    assert result.outputs["model-version"] == "1"
    assert emulator.issued_tokens("client_assertion") and not emulator.issued_tokens("client_secret")
    assert emulator.federated_assertion not in result.everything().replace(
        f"::add-mask::{emulator.federated_assertion}", "")
    assert_only_azure(emulator)
