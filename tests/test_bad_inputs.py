"""Bad input: every case exits 2 with one `::error` annotation naming the input, and never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness import Step

SUB = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "99999999-8888-7777-6666-555555555555"
CANARY = "canary-Zq8xW2-secret"


def sp(**overrides: object) -> str:
    data: dict[str, object] = {"clientId": CLIENT, "clientSecret": CANARY, "subscriptionId": SUB, "tenantId": TENANT}
    data.update(overrides)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def write(path: str, content: bytes | str) -> str:
    target = Path.cwd() / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def model() -> str:
    return write("m/model.onnx", b"weights")


REGISTER = {"task": "register-model", "model-name": "wine"}
DATASET = {"task": "register-dataset", "dataset-name": "wine-data"}

# (id, the input the error must name, a function building the inputs in the step's working directory)
CASES: list[tuple[str, str, Callable[[], dict[str, str]]]] = [
    ("no-task", "task", lambda: {}),
    ("unknown-task", "task", lambda: {"task": "deploy-everything"}),
    ("unknown-backend", "backend", lambda: {**REGISTER, "model-path": model(), "backend": "aws"}),
    ("azureml-without-credentials", "azure-credentials",
     lambda: {**REGISTER, "model-path": model(), "backend": "azureml"}),
    ("credentials-not-json", "azure-credentials", lambda: {**REGISTER, "model-path": model(),
                                                           "azure-credentials": "{clientId: " + CANARY}),
    ("credentials-a-list", "azure-credentials", lambda: {**REGISTER, "azure-credentials": "[1, 2]"}),
    ("credentials-no-clientId", "clientId", lambda: {**REGISTER, "azure-credentials": sp(clientId=None)}),
    ("credentials-no-clientSecret", "clientSecret", lambda: {**REGISTER, "azure-credentials": sp(clientSecret=None)}),
    ("credentials-no-tenantId", "tenantId", lambda: {**REGISTER, "azure-credentials": sp(tenantId=None)}),
    ("credentials-no-subscriptionId", "subscriptionId",
     lambda: {**REGISTER, "azure-credentials": sp(subscriptionId=None)}),
    ("credentials-clientId-not-guid", "clientId", lambda: {**REGISTER, "azure-credentials": sp(clientId="my-app")}),
    ("credentials-unknown-cloud", "resourceManagerEndpointUrl",
     lambda: {**REGISTER, "azure-credentials": sp(resourceManagerEndpointUrl="https://example.invalid/")}),
    ("credentials-both-forms", "azure-credentials",
     lambda: {**REGISTER, "azure-credentials": sp(), "client-id": CLIENT}),
    ("split-without-tenant", "tenant-id", lambda: {**REGISTER, "client-id": CLIENT, "subscription-id": SUB,
                                                   "client-secret": CANARY}),
    ("split-subscription-not-guid", "subscription-id",
     lambda: {**REGISTER, "client-id": CLIENT, "tenant-id": TENANT, "subscription-id": "prod"}),
    ("workspace-both-forms", "workspace-config",
     lambda: {**REGISTER, "workspace-config": write("config.json", "{}"), "workspace-name": "ws"}),
    ("workspace-name-without-group", "resource-group", lambda: {**REGISTER, "workspace-name": "ws"}),
    ("workspace-config-missing", "workspace-config", lambda: {**REGISTER, "workspace-config": "nope/config.json"}),
    ("workspace-config-not-json", "workspace-config",
     lambda: {**REGISTER, "workspace-config": write("config.json", "subscription_id = 1")}),
    ("workspace-config-no-name", "workspace-config", lambda: {**REGISTER, "workspace-config": write(
        "config.json", json.dumps({"subscription_id": SUB, "resource_group": "rg"}))}),
    ("azureml-without-workspace", "workspace-name", lambda: {**REGISTER, "backend": "azureml",
                                                             "azure-credentials": sp()}),
    ("model-path-not-given", "model-path", lambda: dict(REGISTER)),
    ("model-path-does-not-exist", "model-path", lambda: {**REGISTER, "model-path": "models/missing.onnx"}),
    ("model-name-not-given", "model-name", lambda: {"task": "register-model", "model-path": model()}),
    ("model-name-invalid", "model-name", lambda: {**REGISTER, "model-path": model(), "model-name": "wine model/1"}),
    ("model-tags-bad-yaml", "model-tags", lambda: {**REGISTER, "model-path": model(), "model-tags": "a: [1"}),
    ("model-tags-nested", "model-tags", lambda: {**REGISTER, "model-path": model(), "model-tags": "a: {b: 1}"}),
    ("model-properties-a-list", "model-properties",
     lambda: {**REGISTER, "model-path": model(), "model-properties": "[1, 2]"}),
    ("force-new-version-yes", "force-new-version",
     lambda: {**REGISTER, "model-path": model(), "force-new-version": "yes"}),
    ("model-path-empty-folder", "model-path", lambda: {**REGISTER, "model-path": _empty_dir("empty-model")}),
    ("dataset-path-not-given", "dataset-path", lambda: dict(DATASET)),
    ("dataset-path-ftp-url", "dataset-path", lambda: {**DATASET, "dataset-path": "ftp://files.example/wine.csv"}),
    ("dataset-url-with-password", "dataset-path",
     lambda: {**DATASET, "dataset-path": "https://user:pw@files.example/wine.csv"}),
    ("dataset-type-unknown", "dataset-type",
     lambda: {**DATASET, "dataset-path": write("d.csv", "a,b\n1,2\n"), "dataset-type": "table"}),
    ("dataset-tabular-not-csv", "dataset-path", lambda: {**DATASET, "dataset-path": write("d.txt", "a,b\n")}),
    ("dataset-csv-empty-column", "dataset-path", lambda: {**DATASET, "dataset-path": write("d.csv", "a,,c\n1,2,3\n")}),
    ("dataset-csv-duplicate-column", "dataset-path",
     lambda: {**DATASET, "dataset-path": write("d.csv", "a,b,a\n1,2,3\n")}),
    ("dataset-csv-no-header", "dataset-path", lambda: {**DATASET, "dataset-path": write("d.csv", "\n1,2\n")}),
    ("dataset-fake-parquet", "dataset-path", lambda: {**DATASET, "dataset-path": write("d.parquet", b"not parquet")}),
    ("dataset-name-too-long", "dataset-name",
     lambda: {**DATASET, "dataset-name": "d" * 300, "dataset-path": write("d.csv", "a\n1\n")}),
    ("dataset-tags-malformed-line", "dataset-tags",
     lambda: {**DATASET, "dataset-path": write("d.csv", "a\n1\n"), "dataset-tags": "team=ml\njust words"}),
]


def _empty_dir(name: str) -> str:
    (Path.cwd() / name).mkdir()
    return name


@pytest.mark.parametrize(("case_id", "input_name", "build"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_annotation(step: Step, case_id: str, input_name: str,
                                               build: Callable[[], dict[str, str]]) -> None:
    inputs = build()
    task = inputs.pop("task", None)
    result = step.action(task, **inputs)
    assert result.status == 2, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, result.stdout
    assert f"'{input_name}'" in errors[0] or f"'{input_name.replace('-', '_')}'" in errors[0], errors[0]
    assert "%0A" not in errors[0].partition("::")[2].partition("::")[2], "one sentence, one line"
    assert "Traceback" not in result.stdout + result.stderr
    assert "bad input" in errors[0]
    assert "What happened" in result.summary and "How to fix it" in result.summary
    for line in result.everything().splitlines():
        assert CANARY not in line or line.startswith("::add-mask::"), line


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_cli_bad_flag_is_one_sentence_on_stderr(step: Step) -> None:
    result = step.cli("register-model", "--model-pth", "x")
    assert result.status == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--model-pth" in lines[0] and "Traceback" not in result.stderr
