"""Azure ML CLI v1 inference and deployment configuration files (JSON or YAML), parsed into frozen dataclasses."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops_ci.errors import InputError

# The keys Azure's CLI v1 reads from these files (azureml-core's deploy_config_dict_to_obj and the v1
# inferenceconfig schema). Anything else is a typo: Azure would ignore it silently, we refuse it.
INFERENCE_KEYS = frozenset({
    "entryScript", "sourceDirectory", "environment", "runtime", "condaFile", "extraDockerfileSteps", "enableGpu",
    "baseImage", "baseImageRegistry", "cudaVersion", "description", "schemaFile", "dependencies",
})
ENVIRONMENT_KEYS = frozenset({
    "name", "version", "python", "docker", "spark", "r", "databricks", "environmentVariables",
    "inferencingStackVersion", "assetId",
})
PYTHON_KEYS = frozenset({
    "interpreterPath", "userManagedDependencies", "condaDependencies", "condaDependenciesFile",
    "baseCondaEnvironment",
})
RESOURCE_KEYS = frozenset({"cpu", "memoryInGB", "cpuLimit", "memoryInGBLimit"})
AUTOSCALER_KEYS = frozenset({"autoscaleEnabled", "minReplicas", "maxReplicas", "refreshPeriodInSeconds",
                             "targetUtilization"})
KEYS_KEYS = frozenset({"primaryKey", "secondaryKey"})
PROBE_KEYS = frozenset({"periodSeconds", "initialDelaySeconds", "timeoutSeconds", "successThreshold",
                        "failureThreshold"})
COMMON_DEPLOY_KEYS = frozenset({"computeType", "containerResourceRequirements", "authEnabled", "appInsightsEnabled",
                                "keys"})
ACI_KEYS = COMMON_DEPLOY_KEYS | {"location", "sslEnabled", "sslCertificate", "sslKey", "cname", "dnsNameLabel",
                                 "vaultBaseUrl", "keyName", "keyVersion", "vnetName", "subnetName"}
AKS_KEYS = COMMON_DEPLOY_KEYS | {"autoScaler", "dataCollection", "scoringTimeoutMs", "maxConcurrentRequestsPerContainer",
                                 "maxQueueWaitMs", "numReplicas", "gpuCores", "livenessProbeRequirements", "namespace",
                                 "tokenAuthEnabled", "computeTargetName"}
COMPUTE_TYPES = ("ACI", "AKS")
# The local backend runs one gunicorn worker per replica on this machine; more would only thrash it.
MAX_LOCAL_REPLICAS = 16
PIP_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class InferenceConfig:
    """What runs: the entry script inside its source directory, and the environment it expects."""

    entry_script: str  # relative to source_directory, '/'-separated
    source_directory: Path
    environment_name: str = ""
    environment_variables: dict[str, str] = field(default_factory=dict)
    pip_packages: tuple[str, ...] = ()
    conda_packages: tuple[str, ...] = ()

    @property
    def entry_path(self) -> Path:
        return self.source_directory / self.entry_script

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["source_directory"] = str(self.source_directory)
        return data

    def portable(self) -> InferenceConfig:
        """The source directory relative to the working directory when it is inside it, so a later job can find it."""
        try:
            relative = self.source_directory.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return self
        return replace(self, source_directory=relative)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InferenceConfig:
        return cls(entry_script=data["entry_script"], source_directory=Path(data["source_directory"]),
                   environment_name=data.get("environment_name", ""),
                   environment_variables=dict(data.get("environment_variables", {})),
                   pip_packages=tuple(data.get("pip_packages", ())), conda_packages=tuple(data.get("conda_packages", ())))


@dataclass(frozen=True)
class DeploymentConfig:
    """Where and how it runs: compute type, resources, auth and replicas."""

    compute_type: str  # "ACI" or "AKS"
    auth_enabled: bool = True  # ours is on by default, ACI too
    token_auth_enabled: bool = False
    cpu: float | None = None
    memory_gb: float | None = None
    autoscale_enabled: bool | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    target_utilization: int | None = None
    num_replicas: int | None = None
    app_insights_enabled: bool = False
    scoring_timeout_ms: int | None = None
    compute_target_name: str = ""
    primary_key: str = field(default="", repr=False)
    secondary_key: str = field(default="", repr=False)
    # Accepted keys this project does not interpret, kept for the Azure backend (ssl, vnet, probes…).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def replicas(self) -> int:
        return self.num_replicas or self.min_replicas or 1

    @property
    def auth_mode(self) -> str:
        """`token`, `key` or `none`."""
        if self.token_auth_enabled:
            return "token"
        return "key" if self.auth_enabled else "none"

    def to_dict(self) -> dict[str, Any]:
        """Without the keys: they are secrets and stored apart."""
        data = asdict(self)
        data.pop("primary_key")
        data.pop("secondary_key")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def default_deployment(compute_type: str) -> DeploymentConfig:
    """The deployment used when no deployment-config file is given: one replica, key auth on."""
    return DeploymentConfig(compute_type=compute_type, num_replicas=1 if compute_type == "AKS" else None)


# -- files --------------------------------------------------------------------------------------------------------
def load_document(input_name: str, path: Path) -> dict[str, Any]:
    """A JSON or YAML file holding a mapping; the extension decides, YAML being a superset of JSON otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(input_name, f"Input '{input_name}' names '{path.name}', which cannot be read as UTF-8 text.",
                         fix="Give a JSON or YAML file.") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            where = f"line {getattr(exc, 'lineno', '?')}, column {getattr(exc, 'colno', '?')}"
            raise InputError(input_name, f"Input '{input_name}' names '{path.name}', which is not valid JSON "
                             f"({where}).", fix="Fix the file's JSON (comments are not allowed in JSON).") from exc
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise InputError(input_name, f"Input '{input_name}' names '{path.name}', which is not valid YAML{where}.",
                             fix="Fix the file's YAML.") from exc
    if not isinstance(data, dict):
        raise InputError(input_name, f"Input '{input_name}' names '{path.name}', which does not hold a mapping.",
                         fix="The file must be a JSON object or YAML mapping of the Azure ML CLI v1 keys.")
    return data


class _Reader:
    """Typed access to one file's mapping; every error names the input, the file and the key."""

    def __init__(self, input_name: str, path: Path | None) -> None:
        self.input_name = input_name
        self.where = f"'{path.name}'" if path else "the configuration"

    def fail(self, message: str, fix: str) -> InputError:
        return InputError(self.input_name, f"Input '{self.input_name}': {self.where} {message}", fix=fix)

    def check_keys(self, data: dict[str, Any], known: frozenset[str], section: str = "") -> None:
        for key in data:
            if key in known:
                continue
            close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
            hint = f"Did you mean '{close[0]}'? " if close else ""
            place = f" in '{section}'" if section else ""
            raise self.fail(f"has an unknown key '{key}'{place}.",
                            f"{hint}Accepted keys{place}: {', '.join(sorted(known))}.")

    def section(self, data: dict[str, Any], key: str, known: frozenset[str]) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"has '{key}' that is not a mapping.", f"Write '{key}' as an object of keys.")
        self.check_keys(value, known, key)
        return value

    def boolean(self, data: dict[str, Any], key: str) -> bool | None:
        value = data.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(f"has '{key}: {value!r}', which is not true or false.", f"Write {key}: true or false.")

    def integer(self, data: dict[str, Any], key: str, *, minimum: int = 1) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(f"has '{key}: {value!r}', which is not a whole number of at least {minimum}.",
                            f"Write {key} as a whole number of at least {minimum}.")
        return value

    def number(self, data: dict[str, Any], key: str) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(f"has '{key}: {value!r}', which is not a positive number.",
                            f"Write {key} as a positive number such as 0.5.")
        return float(value)

    def text(self, data: dict[str, Any], key: str) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(f"has '{key}' that is not text.", f"Write {key} as a string.")
        return value


# -- inference configuration ----------------------------------------------------------------------------------------
def parse_inference_config(input_name: str, path: Path) -> InferenceConfig:
    """Read an inferenceconfig.json/.yml; relative paths are relative to the file's own folder."""
    data = load_document(input_name, path)
    return inference_config_from_dict(input_name, data, base=path.parent, path=path)


def inference_config_from_dict(input_name: str, data: dict[str, Any], *, base: Path,
                               path: Path | None = None) -> InferenceConfig:
    reader = _Reader(input_name, path)
    reader.check_keys(data, INFERENCE_KEYS)
    entry = reader.text(data, "entryScript")
    if not entry:
        raise reader.fail("has no 'entryScript'.", "Add \"entryScript\": \"score.py\" (relative to sourceDirectory).")
    source_text = reader.text(data, "sourceDirectory")
    if source_text:
        source = Path(source_text).expanduser()
        source = source if source.is_absolute() else base / source
        if not source.is_dir():
            raise reader.fail(f"has sourceDirectory '{source_text}', which is not a folder.",
                              "Name the folder holding the entry script, relative to the file's folder.")
        entry_path = source / entry
    else:
        entry_path = Path(entry).expanduser()
        entry_path = entry_path if entry_path.is_absolute() else base / entry_path
        source = entry_path.parent
    if not entry_path.is_file():
        raise reader.fail(f"has entryScript '{entry}', which does not exist in '{source.name or source}'.",
                          "Name the scoring script relative to sourceDirectory (or to the file's folder).")
    try:
        relative = entry_path.resolve().relative_to(source.resolve()).as_posix()
    except ValueError:
        raise reader.fail(f"has entryScript '{entry}', which is outside sourceDirectory.",
                          "Put the entry script inside sourceDirectory: only that folder is deployed.") from None
    environment = reader.section(data, "environment", ENVIRONMENT_KEYS)
    python = reader.section(environment, "python", PYTHON_KEYS)
    variables = environment.get("environmentVariables") or {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise reader.fail("has 'environment.environmentVariables' that is not a mapping of names to values.",
                          "Write environmentVariables as an object of NAME: value.")
    pip, conda = _dependencies(reader, python.get("condaDependencies"))
    return InferenceConfig(
        entry_script=relative, source_directory=source.resolve(), environment_name=reader.text(environment, "name"),
        environment_variables={k: "" if v is None else str(v) for k, v in variables.items()},
        pip_packages=pip, conda_packages=conda,
    )


def _dependencies(reader: _Reader, conda: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if conda is None:
        return (), ()
    if not isinstance(conda, dict) or not isinstance(conda.get("dependencies", []), list):
        raise reader.fail("has 'environment.python.condaDependencies' without a 'dependencies' list.",
                          "Write condaDependencies as {\"dependencies\": [\"python=3.11\", {\"pip\": [...]}]}.")
    pip: list[str] = []
    packages: list[str] = []
    for item in conda.get("dependencies", []):
        if isinstance(item, str):
            packages.append(item)
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            pip.extend(str(p) for p in item["pip"])
        else:
            raise reader.fail(f"has a conda dependency {item!r} that is neither a package nor a pip list.",
                              "Write conda packages as strings and pip packages under {\"pip\": [...]}.")
    return tuple(pip), tuple(packages)


def missing_pip_packages(config: InferenceConfig) -> list[str]:
    """The environment's pip packages that this Python does not have (the local endpoint runs in this Python)."""
    from importlib import metadata

    missing = []
    for requirement in config.pip_packages:
        match = PIP_NAME.match(requirement)
        # azureml-defaults is Azure's serving stack: locally, azureml-inference-server-http stands in for it.
        if not match or match.group(1).lower().replace("_", "-") == "azureml-defaults":
            continue
        try:
            metadata.distribution(match.group(1))
        except metadata.PackageNotFoundError:
            missing.append(match.group(1))
    return missing


# -- deployment configuration -------------------------------------------------------------------------------------
def parse_deployment_config(input_name: str, path: Path, *, expected: str) -> DeploymentConfig:
    """Read a deploymentconfig.json/.yml for a task that deploys to `expected` (ACI or AKS)."""
    data = load_document(input_name, path)
    return deployment_config_from_dict(input_name, data, expected=expected, path=path)


def deployment_config_from_dict(input_name: str, data: dict[str, Any], *, expected: str,
                                path: Path | None = None) -> DeploymentConfig:
    reader = _Reader(input_name, path)
    compute = reader.text(data, "computeType")
    if not compute:
        raise reader.fail("has no 'computeType'.", f"Add \"computeType\": \"{expected}\".")
    compute = compute.upper()
    if compute not in COMPUTE_TYPES:
        raise reader.fail(f"has computeType '{data['computeType']}', which is not ACI or AKS.",
                          f"Write \"computeType\": \"{expected}\".")
    if compute != expected:
        task = "deploy-aci" if expected == "ACI" else "promote-aks"
        raise reader.fail(f"says computeType {compute}, but {task} deploys to {expected}.",
                          f"Use a deployment config with computeType {expected} for {task}.")
    reader.check_keys(data, ACI_KEYS if compute == "ACI" else AKS_KEYS)
    resources = reader.section(data, "containerResourceRequirements", RESOURCE_KEYS)
    autoscaler = reader.section(data, "autoScaler", AUTOSCALER_KEYS)
    keys = reader.section(data, "keys", KEYS_KEYS)
    reader.section(data, "livenessProbeRequirements", PROBE_KEYS)

    token = bool(reader.boolean(data, "tokenAuthEnabled"))
    auth = reader.boolean(data, "authEnabled")
    if token and auth:
        raise reader.fail("enables both authEnabled and tokenAuthEnabled.",
                          "Choose one: key auth (authEnabled: true) or token auth (tokenAuthEnabled: true).")
    auth_enabled = (not token) if auth is None else auth

    autoscale = reader.boolean(autoscaler, "autoscaleEnabled")
    num = reader.integer(data, "numReplicas")
    minimum = reader.integer(autoscaler, "minReplicas")
    maximum = reader.integer(autoscaler, "maxReplicas")
    if compute == "AKS":
        # Azure's AksWebservice rules: autoscale is on unless disabled; then numReplicas is required.
        if autoscale is True and num is not None:
            raise reader.fail("gives numReplicas while autoScaler.autoscaleEnabled is true.",
                              "Remove numReplicas, or set autoscaleEnabled: false.")
        if autoscale is False and num is None:
            raise reader.fail("disables autoscaling but gives no numReplicas.", "Add numReplicas.")
        if autoscale is False and (minimum or maximum):
            raise reader.fail("gives autoScaler replicas while autoscaleEnabled is false.",
                              "Remove minReplicas/maxReplicas, or enable autoscaling.")
        if minimum and maximum and minimum > maximum:
            raise reader.fail(f"has minReplicas {minimum} above maxReplicas {maximum}.",
                              "Make minReplicas at most maxReplicas.")
        replicas = num or minimum or 1
        if replicas > MAX_LOCAL_REPLICAS:
            raise reader.fail(f"asks for {replicas} replicas; the local backend runs at most {MAX_LOCAL_REPLICAS}.",
                              f"Use numReplicas (or minReplicas) of at most {MAX_LOCAL_REPLICAS}.")
    elif token:
        raise reader.fail("enables tokenAuthEnabled, which ACI does not support.",
                          "Use key auth (authEnabled: true) for ACI; token auth is for AKS.")
    primary = reader.text(keys, "primaryKey")
    secondary = reader.text(keys, "secondaryKey")
    if (primary or secondary) and not auth_enabled:
        raise reader.fail("gives keys while key auth is off.", "Remove 'keys', or set authEnabled: true.")
    interpreted = {"computeType", "containerResourceRequirements", "authEnabled", "tokenAuthEnabled", "autoScaler",
                   "numReplicas", "appInsightsEnabled", "scoringTimeoutMs", "computeTargetName", "keys"}
    return DeploymentConfig(
        compute_type=compute, auth_enabled=auth_enabled, token_auth_enabled=token,
        cpu=reader.number(resources, "cpu"), memory_gb=reader.number(resources, "memoryInGB"),
        autoscale_enabled=autoscale, min_replicas=minimum, max_replicas=maximum,
        target_utilization=reader.integer(autoscaler, "targetUtilization"), num_replicas=num,
        app_insights_enabled=bool(reader.boolean(data, "appInsightsEnabled")),
        scoring_timeout_ms=reader.integer(data, "scoringTimeoutMs"),
        compute_target_name=reader.text(data, "computeTargetName"),
        primary_key=primary, secondary_key=secondary,
        extra={k: v for k, v in data.items() if k not in interpreted},
    )
