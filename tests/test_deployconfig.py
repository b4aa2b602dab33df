"""The Azure ML CLI v1 inference and deployment configuration files: accepted shapes, typos and cross-field rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_ci.deployconfig import (
    deployment_config_from_dict,
    inference_config_from_dict,
    parse_deployment_config,
    parse_inference_config,
)
from mlops_ci.errors import InputError


@pytest.fixture
def source(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text("def init(): pass\ndef run(raw): return raw\n", encoding="utf-8")
    return tmp_path


def test_inference_config_json_with_environment(source: Path) -> None:
    path = source / "inferenceconfig.json"
    path.write_text(json.dumps({
        "entryScript": "score.py", "sourceDirectory": "src",
        "environment": {"name": "wine-env", "environmentVariables": {"WINE_THRESHOLD": 0.5},
                        "python": {"condaDependencies": {"dependencies": ["python=3.11", {"pip": [
                            "onnxruntime>=1.18", "azureml-defaults"]}]}}},
    }), encoding="utf-8")
    config = parse_inference_config("inference-config", path)
    assert config.entry_script == "score.py"
    assert config.source_directory == (source / "src").resolve()
    assert config.environment_variables == {"WINE_THRESHOLD": "0.5"}
    assert config.pip_packages == ("onnxruntime>=1.18", "azureml-defaults")
    assert config.conda_packages == ("python=3.11",)


def test_inference_config_yaml_without_source_directory(source: Path) -> None:
    path = source / "inferenceconfig.yml"
    path.write_text("entryScript: src/score.py\n", encoding="utf-8")
    config = parse_inference_config("inference-config", path)
    assert (config.entry_script, config.source_directory) == ("score.py", (source / "src").resolve())


@pytest.mark.parametrize(("data", "words"), [
    ({"entryScript": "score.py", "sourceDirectory": "src", "entryscript": "x"}, ["unknown key 'entryscript'",
                                                                                 "Did you mean 'entryScript'"]),
    ({"sourceDirectory": "src"}, ["no 'entryScript'"]),
    ({"entryScript": "missing.py", "sourceDirectory": "src"}, ["'missing.py'", "does not exist"]),
    ({"entryScript": "score.py", "sourceDirectory": "nowhere"}, ["'nowhere'", "not a folder"]),
    ({"entryScript": "../score.py", "sourceDirectory": "src"}, ["outside sourceDirectory"]),
    ({"entryScript": "score.py", "sourceDirectory": "src", "environment": {"pyton": {}}},
     ["unknown key 'pyton' in 'environment'", "Did you mean 'python'"]),
], ids=["typo-suggests", "no-entry-script", "entry-missing", "source-missing", "entry-outside-source",
        "nested-typo"])
def test_inference_config_errors(source: Path, data: dict[str, object], words: list[str]) -> None:
    (source / "score.py").write_text("", encoding="utf-8")
    with pytest.raises(InputError) as info:
        inference_config_from_dict("inference-config", data, base=source)
    assert info.value.input_name == "inference-config"
    text = f"{info.value.message} {info.value.fix}"
    for word in words:
        assert word in text


@pytest.mark.parametrize(("expected", "data", "replicas", "auth"), [
    ("ACI", {"computeType": "ACI", "containerResourceRequirements": {"cpu": 0.5, "memoryInGB": 1}}, 1, "key"),
    ("ACI", {"computeType": "aci", "authEnabled": False}, 1, "none"),
    ("AKS", {"computeType": "AKS", "numReplicas": 2, "autoScaler": {"autoscaleEnabled": False}}, 2, "key"),
    ("AKS", {"computeType": "AKS", "autoScaler": {"autoscaleEnabled": True, "minReplicas": 3, "maxReplicas": 4}}, 3,
     "key"),
    ("AKS", {"computeType": "AKS", "tokenAuthEnabled": True}, 1, "token"),
], ids=["aci", "aci-auth-off", "aks-num-replicas", "aks-autoscale-min", "aks-token"])
def test_deployment_configs(expected: str, data: dict[str, object], replicas: int, auth: str) -> None:
    config = deployment_config_from_dict("deployment-config", data, expected=expected)
    assert (config.compute_type, config.replicas, config.auth_mode) == (expected, replicas, auth)


def test_deployment_default_is_auth_on_for_aci_too() -> None:
    assert deployment_config_from_dict("deployment-config", {"computeType": "ACI"}, expected="ACI").auth_mode == "key"


@pytest.mark.parametrize(("expected", "data", "words"), [
    ("ACI", {"computeType": "ACI", "authEnabeld": True}, ["unknown key 'authEnabeld'", "Did you mean 'authEnabled'"]),
    ("ACI", {"computeType": "ACI", "containerResourceRequirements": {"memoryInGb": 1}},
     ["'memoryInGb'", "Did you mean 'memoryInGB'"]),
    ("ACI", {"computeType": "AKS"}, ["computeType AKS", "deploy-aci"]),
    ("ACI", {}, ["no 'computeType'"]),
    ("ACI", {"computeType": "ACI", "tokenAuthEnabled": True}, ["unknown key 'tokenAuthEnabled'"]),
    ("AKS", {"computeType": "AKS", "authEnabled": True, "tokenAuthEnabled": True}, ["both"]),
    ("AKS", {"computeType": "AKS", "numReplicas": 2, "autoScaler": {"autoscaleEnabled": True}}, ["numReplicas"]),
    ("AKS", {"computeType": "AKS", "autoScaler": {"autoscaleEnabled": False}}, ["no numReplicas"]),
    ("AKS", {"computeType": "AKS", "autoScaler": {"minReplicas": 5, "maxReplicas": 2}}, ["above maxReplicas"]),
    ("AKS", {"computeType": "AKS", "numReplicas": 0}, ["at least 1"]),
    ("AKS", {"computeType": "AKS", "numReplicas": "2"}, ["whole number"]),
    ("AKS", {"computeType": "AKS", "numReplicas": 64}, ["at most 16"]),
    ("ACI", {"computeType": "ACI", "authEnabled": "yes"}, ["not true or false"]),
    ("ACI", {"computeType": "ACI", "authEnabled": False, "keys": {"primaryKey": "k"}}, ["key auth is off"]),
], ids=["typo", "nested-typo", "wrong-compute", "no-compute", "token-on-aci", "both-auths", "replicas-and-autoscale",
        "autoscale-off-no-replicas", "min-above-max", "zero-replicas", "replicas-text", "too-many-replicas",
        "bool-as-text", "keys-without-auth"])
def test_deployment_config_errors(expected: str, data: dict[str, object], words: list[str]) -> None:
    with pytest.raises(InputError) as info:
        deployment_config_from_dict("deployment-config", data, expected=expected)
    text = f"{info.value.message} {info.value.fix}"
    for word in words:
        assert word in text, text


def test_deployment_keys_are_kept_out_of_repr_and_storage(tmp_path: Path) -> None:
    path = tmp_path / "deploymentconfig.yaml"
    path.write_text("computeType: ACI\nkeys:\n  primaryKey: canary-primary-0123\n  secondaryKey: canary-second\n",
                    encoding="utf-8")
    config = parse_deployment_config("deployment-config", path, expected="ACI")
    assert config.primary_key == "canary-primary-0123"
    assert "canary" not in repr(config)
    assert "canary" not in json.dumps(config.to_dict())


@pytest.mark.parametrize(("name", "text", "words"), [
    ("deploymentconfig.json", '{"computeType": "ACI", // comment\n}', ["not valid JSON", "line 1"]),
    ("deploymentconfig.yml", "computeType: [ACI\n", ["not valid YAML"]),
    ("deploymentconfig.yml", "- ACI\n", ["does not hold a mapping"]),
], ids=["json-comment", "yaml-broken", "yaml-list"])
def test_unreadable_files(tmp_path: Path, name: str, text: str, words: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        parse_deployment_config("deployment-config", path, expected="ACI")
    for word in words:
        assert word in info.value.message
