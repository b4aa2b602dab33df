"""Fixtures that run mlops-ci's tasks with `azureml-sdk: v2` (the real azure-ai-ml) against the loopback emulator."""

from __future__ import annotations

import pytest

from tests.azure_emulator.emulator import AzureEmulator
from tests.azureml_v1.conftest import AzureStep
from tests.harness import Step

# The emulator's Retry-After on long operations: the SDK's pollers wait that long between reads (5 s without it);
# with no InProgress read before an operation ends, each SDK wait takes one Retry-After.
RETRY_AFTER_SECONDS = "1"

SDK_WARNINGS = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
                pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
                pytest.mark.filterwarnings("ignore::FutureWarning"),
                pytest.mark.filterwarnings("ignore::UserWarning")]


class AzureV2Step(AzureStep):
    """An AzureStep whose every task runs with `azureml-sdk: v2`."""

    def inputs(self, **inputs: str) -> dict[str, str]:
        return super().inputs(azureml_sdk="v2", **inputs)


def make_step(step: Step, emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch, sdk: str) -> AzureStep:
    # The SDKs read the proxy, CA bundle and HOME from the process environment, not from main()'s environ.
    for name, value in emulator.env.items():
        monkeypatch.setenv(name, value)
    emulator.v2.retry_after = RETRY_AFTER_SECONDS
    emulator.v2.operation_polls = 0
    return AzureV2Step(step, emulator) if sdk == "v2" else AzureStep(step, emulator)


@pytest.fixture
def v2_step(step: Step, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> AzureStep:
    return make_step(step, azure_emulator, monkeypatch, "v2")


@pytest.fixture(params=["v1", "v2"])
def any_sdk_step(request: pytest.FixtureRequest, step: Step, azure_emulator: AzureEmulator,
                 monkeypatch: pytest.MonkeyPatch) -> AzureStep:
    """One table, two SDKs: the same case on azureml-sdk v1 and v2."""
    return make_step(step, azure_emulator, monkeypatch, request.param)
