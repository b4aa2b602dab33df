"""Unit tables for input reading and conversion, credentials and the workspace reference."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from mlops_ci.credentials import parse_credentials, parse_workspace
from mlops_ci.errors import InputError
from mlops_ci.inputs import Inputs, env_name, inputs_from_environ, parse_mapping
from mlops_ci.runner import Runner

SUB = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "99999999-8888-7777-6666-555555555555"


def test_env_names_keep_hyphens() -> None:
    assert env_name("model-path") == "INPUT_MODEL-PATH"


def test_hyphen_and_underscore_spellings_are_both_read() -> None:
    values = inputs_from_environ({"INPUT_MODEL-PATH": "a.onnx", "INPUT_MODEL_NAME": "wine", "OTHER": "x"})
    assert values == {"model-path": "a.onnx", "model-name": "wine"}


def test_hyphen_spelling_wins_when_both_are_set() -> None:
    values = inputs_from_environ({"INPUT_MODEL-NAME": "hyphen", "INPUT_MODEL_NAME": "underscore"})
    assert values["model-name"] == "hyphen"


def test_declared_defaults_apply_to_empty_values() -> None:
    inputs = Inputs({"force-new-version": "", "workspace-dir": "  "})
    assert inputs.raw("force-new-version") == "false"
    assert inputs.raw("workspace-dir") == ".mlops-ci"
    assert not inputs.given("workspace-dir")


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("True", True), ("TRUE", True),
                                                 ("false", False), ("False", False), ("FALSE", False)],
                         ids=["true", "True", "TRUE", "false", "False", "FALSE"])
def test_booleans_as_github_reads_them(value: str, expected: bool) -> None:
    assert Inputs({"force-new-version": value}).boolean("force-new-version") is expected


@pytest.mark.parametrize("value", ["yes", "1", "on", "tru", "no"], ids=["yes", "1", "on", "typo", "no"])
def test_other_boolean_words_are_refused(value: str) -> None:
    with pytest.raises(InputError) as info:
        Inputs({"force-new-version": value}).boolean("force-new-version")
    assert info.value.input_name == "force-new-version"
    assert "true or false" in info.value.one_line()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"stage": "test", "n": 3}', {"stage": "test", "n": "3"}),
        ("stage: test\nok: true", {"stage": "test", "ok": "true"}),
        ("stage=test\nowner = ml-team\n\n# comment", {"stage": "test", "owner": "ml-team"}),
        ("url=https://x.y/a=b", {"url": "https://x.y/a=b"}),
        ("key: ", {"key": ""}),
        ("", {}),
    ],
    ids=["json", "yaml", "key-value-lines", "value-with-equals", "yaml-null", "empty"],
)
def test_mappings(text: str, expected: dict[str, str]) -> None:
    assert parse_mapping("model-tags", text) == expected


@pytest.mark.parametrize(
    "text",
    ['{"a": ', "[1, 2]", "just words", "a: {b: c}", "=value"],
    ids=["broken-json", "list", "no-separator", "nested", "empty-key"],
)
def test_bad_mappings_name_the_input(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_mapping("model-tags", text)
    assert info.value.input_name == "model-tags"
    assert "'model-tags'" in info.value.message


def test_items_split_on_commas_and_newlines() -> None:
    assert Inputs({"model-name": "a:1, b\nc:3,,"}).items("model-name") == ["a:1", "b", "c:3"]


def _runner() -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner({"GITHUB_ACTIONS": "true"}, out, io.StringIO()), out


def _sp(**overrides: object) -> str:
    data: dict[str, object] = {"clientId": CLIENT, "clientSecret": "canary-secret-0042", "subscriptionId": SUB,
                               "tenantId": TENANT}
    data.update(overrides)
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_json_auth_credentials_are_parsed_and_the_secret_masked_first() -> None:
    runner, out = _runner()
    creds = parse_credentials(Inputs({"azure-credentials": _sp()}), runner)
    assert creds is not None
    assert (creds.client_id, creds.tenant_id, creds.subscription_id) == (CLIENT, TENANT, SUB)
    assert creds.cloud == "AzureCloud" and not creds.uses_oidc
    assert "::add-mask::canary-secret-0042" in out.getvalue().splitlines()
    assert "canary-secret-0042" not in repr(creds)


def test_sdk_auth_shape_with_sovereign_cloud() -> None:
    runner, _ = _runner()
    blob = _sp(resourceManagerEndpointUrl="https://management.chinacloudapi.cn",
               activeDirectoryEndpointUrl="https://login.chinacloudapi.cn", sqlManagementEndpointUrl="x")
    creds = parse_credentials(Inputs({"azure-credentials": blob}), runner)
    assert creds is not None and creds.cloud == "AzureChinaCloud"


def test_split_inputs_without_secret_mean_oidc() -> None:
    runner, _ = _runner()
    creds = parse_credentials(Inputs({"client-id": CLIENT, "tenant-id": TENANT, "subscription-id": SUB}), runner)
    assert creds is not None and creds.uses_oidc


def test_no_credentials_is_none() -> None:
    runner, _ = _runner()
    assert parse_credentials(Inputs({}), runner) is None


def test_workspace_from_name_and_group_takes_the_subscription_of_the_credentials() -> None:
    runner, _ = _runner()
    inputs = Inputs({"azure-credentials": _sp(), "workspace-name": "ws", "resource-group": "rg"})
    ref = parse_workspace(inputs, parse_credentials(inputs, runner))
    assert ref is not None and (ref.subscription_id, ref.resource_group, ref.workspace_name) == (SUB, "rg", "ws")


def test_workspace_from_studio_config(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"subscription_id": SUB, "resource_group": "rg", "workspace_name": "ws"}))
    ref = parse_workspace(Inputs({"workspace-config": str(config)}, base_dir=tmp_path), None)
    assert ref is not None and ref.workspace_name == "ws" and ref.subscription_id == SUB
