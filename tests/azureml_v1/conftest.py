"""Fixtures that run mlops-ci's tasks on the azureml backend, with the real SDK, against the loopback emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.azure_emulator.emulator import AzureEmulator
from tests.harness import Step, StepResult

# Our waits, shortened through the documented variables, never by patching.
FAST = {"MLOPS_CI_POLL_SECONDS": "0.05", "MLOPS_CI_RETRY_BASE_SECONDS": "0.05"}


class AzureStep:
    """A workflow step whose inputs carry the emulator's service principal and workspace."""

    def __init__(self, step: Step, emulator: AzureEmulator) -> None:
        self.step = step
        self.emulator = emulator
        self.results: list[StepResult] = []

    @property
    def credentials(self) -> str:
        e = self.emulator
        return json.dumps({"clientId": e.client_id, "clientSecret": e.client_secret, "tenantId": e.tenant_id,
                           "subscriptionId": e.subscription_id})

    def inputs(self, **inputs: str) -> dict[str, str]:
        base = {"backend": "azureml", "azure_credentials": self.credentials,
                "workspace_name": self.emulator.workspace_name, "resource_group": self.emulator.resource_group}
        base.update(inputs)
        return base

    def action(self, task: str, *, env: dict[str, str] | None = None, **inputs: str) -> StepResult:
        result = self.step.action(task, env={**self.emulator.env, **FAST, **(env or {})}, **self.inputs(**inputs))
        self.results.append(result)
        return result

    def cli(self, task: str, *, env: dict[str, str] | None = None, **inputs: str) -> StepResult:
        argv = [task]
        for key, value in self.inputs(**inputs).items():
            argv += [f"--{key.replace('_', '-')}", value]
        result = self.step.cli(*argv, env={**self.emulator.env, **FAST, **(env or {})})
        self.results.append(result)
        return result


@pytest.fixture
def azure_step(step: Step, azure_emulator: AzureEmulator, monkeypatch: pytest.MonkeyPatch) -> AzureStep:
    # The SDK reads the proxy, CA bundle and HOME from the process environment, not from main()'s environ.
    for name, value in azure_emulator.env.items():
        monkeypatch.setenv(name, value)
    return AzureStep(step, azure_emulator)


def assert_only_azure(emulator: AzureEmulator, *extra: str) -> None:
    allowed = emulator.azure_hosts() | set(extra)
    assert emulator.hosts() <= allowed, sorted(emulator.hosts() - allowed)
    assert all(r.status > 0 for r in emulator.requests if r.host in allowed), "a request was refused or reset"


def assert_no_canary(emulator: AzureEmulator, *results: StepResult) -> None:
    """The secret appears only in the ::add-mask:: command that tells the runner to hide it."""
    for result in results:
        for where, text in (("stdout", result.stdout), ("stderr", result.stderr), ("outputs", result.output_file),
                            ("summary", result.summary)):
            for line in text.splitlines():
                if where == "stdout" and line.startswith("::add-mask::"):
                    continue
                assert emulator.client_secret not in line, f"canary in {where}: {line[:80]}"


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "repo" / "models" / "wine.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"onnx-bytes-v1" * 100)
    return path


SCORE_PY = """\
import json, os

def init():
    global factor
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "factor.txt")) as handle:
        factor = float(handle.read())

def run(raw):
    return {"result": [row[0] * factor for row in json.loads(raw)["data"]]}
"""


def make_scoring_project(step: AzureStep) -> Path:
    """score.py, an inference config and a sample in the working directory; model `factor` 1 (×2) and 2 (×3)."""
    root = Path.cwd()
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text(SCORE_PY)
    (root / "inferenceconfig.json").write_text(json.dumps({"entryScript": "score.py", "sourceDirectory": "src"}))
    (root / "sample.json").write_text(json.dumps({"data": [[1.0]]}))
    (root / "models").mkdir()
    for version in ("2", "3"):
        (root / "models" / "factor.txt").write_text(version)
        result = step.action("register-model", model_path="models/factor.txt", model_name="factor",
                             force_new_version="true")
        assert result.status == 0, result.stdout + result.stderr
    return root


def deploy(step: AzureStep, task: str = "deploy-aci", **inputs: str) -> StepResult:
    values = {"model": "factor:1", "service_name": "wine-test", "inference_config": "inferenceconfig.json",
              "sample_request": "sample.json", **inputs}
    return step.action(task, **values)
