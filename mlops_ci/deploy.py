"""What deploy-aci and promote-aks share: reading their inputs, preflight, deploy with a smoke test, outputs."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from mlops_ci import summary
from mlops_ci.context import Context, TaskResult
from mlops_ci.deployconfig import (
    DeploymentConfig,
    InferenceConfig,
    default_deployment,
    missing_pip_packages,
    parse_deployment_config,
    parse_inference_config,
)
from mlops_ci.domain import CandidateEndpoint, Service, ServiceSpec
from mlops_ci.errors import InputError, MlopsCiError, ResourceNotFound
from mlops_ci.inputs import NAME_PATTERN, Inputs
from mlops_ci.preflight import model_dir_for, run_preflight
from mlops_ci.scoring import NO_EXPECTATION, SmokeResult, smoke_test

FAILURE_LOG_LINES = 100


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None  # None: the latest

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}:{self.version}"


@dataclass(frozen=True)
class DeployOptions:
    """The inputs of deploy-aci and promote-aks; each task's Options sets the compute type."""

    COMPUTE_TYPE: ClassVar[str] = "ACI"
    PROMOTE: ClassVar[bool] = False

    service_name: str
    compute_type: str
    models: tuple[ModelRef, ...]
    inference: InferenceConfig | None  # None with source_service
    deployment: DeploymentConfig
    sample: str  # the sample request, exactly as in the file
    timeout_s: float
    expected: Any = NO_EXPECTATION
    source_service: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    instance_type: str = ""
    cluster_input: str = "aks-cluster"

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> DeployOptions:
        compute_type, promote = cls.COMPUTE_TYPE, cls.PROMOTE
        service = inputs.name("service-name")
        source = inputs.name("source-service", required=False) if promote else ""
        if source:
            for clashing in ("model", "inference-config"):
                if inputs.given(clashing):
                    raise InputError(clashing, f"Input '{clashing}' cannot be given with 'source-service'.",
                                     fix="source-service promotes exactly that service's models and inference "
                                         f"configuration: remove '{clashing}', or remove 'source-service'.")
            if source == service:
                raise InputError("source-service", "Input 'source-service' names the service being deployed.",
                                 fix="Name the tested service to promote from (for example the ACI one).")
            models: tuple[ModelRef, ...] = ()
            inference = None
        else:
            models = parse_models(inputs)
            path = inputs.path("inference-config", kind="file")
            assert path is not None
            inference = parse_inference_config("inference-config", path)
        deployment_path = inputs.path("deployment-config", required=False, kind="file")
        deployment = (parse_deployment_config("deployment-config", deployment_path, expected=compute_type)
                      if deployment_path else default_deployment(compute_type))
        deployment, cluster_input = _cluster(inputs, deployment, deployment_path, promote)
        ctx.runner.mask(deployment.primary_key)
        ctx.runner.mask(deployment.secondary_key)
        sample_path = inputs.path("sample-request", kind="file")
        assert sample_path is not None
        sample = read_json_text("sample-request", sample_path)
        expected = NO_EXPECTATION
        if inputs.given("expected-response"):
            expected_path = inputs.path("expected-response", kind="file")
            assert expected_path is not None
            expected = json.loads(read_json_text("expected-response", expected_path))
        minutes = inputs.number("timeout-minutes", minimum=0.1)
        warnings = []
        if not deployment.auth_enabled and not deployment.token_auth_enabled:
            warnings.append(f"Service '{service}' is deployed without authentication (authEnabled: false): anyone "
                            "who can reach it can call it.")
        instance_type = inputs.text("instance-type")
        if instance_type and (ctx.settings.backend, ctx.settings.azureml_sdk) != ("azureml", "v2"):
            warnings.append("Input 'instance-type' is only used with backend azureml and azureml-sdk v2; it is "
                            "ignored here.")
            instance_type = ""
        return cls(service_name=service, compute_type=compute_type, models=models, inference=inference,
                   deployment=deployment, sample=sample, timeout_s=minutes * 60, expected=expected,
                   source_service=source, warnings=tuple(warnings), instance_type=instance_type,
                   cluster_input=cluster_input)


def _cluster(inputs: Inputs, deployment: DeploymentConfig, path: Path | None,
             promote: bool) -> tuple[DeploymentConfig, str]:
    """The AKS cluster from 'aks-cluster' or the config's computeTargetName, and the input that named it."""
    cluster = inputs.name("aks-cluster", required=False)
    if not promote:
        if cluster:
            raise InputError("aks-cluster", "Input 'aks-cluster' is for promote-aks; deploy-aci deploys to ACI.",
                             fix="Remove aks-cluster from this step, or use task promote-aks to deploy to AKS.")
        return deployment, "aks-cluster"
    configured = deployment.compute_target_name
    if cluster and configured and cluster != configured:
        where = f"'{path.name}'" if path else "the deployment config"
        raise InputError("aks-cluster", f"Input 'aks-cluster' is '{cluster}' but deployment-config {where} names "
                         f"computeTargetName '{configured}'.",
                         fix="Name the cluster once (aks-cluster), or make both the same cluster.")
    if cluster:
        return replace(deployment, compute_target_name=cluster), "aks-cluster"
    return deployment, "deployment-config" if configured else "aks-cluster"


def parse_models(inputs: Inputs) -> tuple[ModelRef, ...]:
    refs = []
    for item in inputs.items("model"):
        name, sep, version = item.partition(":")
        if not NAME_PATTERN.match(name) or (sep and not version.isdigit()):
            raise InputError("model", f"Input 'model' has '{item[:60]}', which is not `name` or `name:version`.",
                             fix="Write each model as name:version (for example wine-onnx:3) or name for the latest.")
        refs.append(ModelRef(name, int(version) if sep else None))
    if not refs:
        raise InputError("model", "Input 'model' is required.",
                         fix="Name the models to deploy, for example `wine-onnx:1` (comma-separated for several).")
    if len({r.name for r in refs}) != len(refs):
        raise InputError("model", "Input 'model' names the same model twice.",
                         fix="Deploy one version of each model: Azure lays them out by name.")
    return tuple(refs)


def read_json_text(input_name: str, path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(input_name, f"Input '{input_name}' names '{path.name}', which is not valid JSON{where}.",
                         fix="Fix the file's JSON.") from exc
    return text


def deploy(options: DeployOptions, ctx: Context) -> TaskResult:
    """Preflight, deploy (or swap) with a smoke test of the new version, and report; the one flow of both tasks."""
    promote = options.PROMOTE
    runner, backend = ctx.runner, ctx.backend
    deadline = time.monotonic() + options.timeout_s
    for warning in options.warnings:
        runner.warning(warning, title="mlops-ci auth")
    previous = _existing(ctx, options.service_name)
    if options.source_service:
        source = _existing(ctx, options.source_service)
        if source is None or source.inference is None:
            raise ResourceNotFound("source-service", f"Service '{options.source_service}' does not exist, so it "
                                   "cannot be promoted.", fix="Deploy and test it first with deploy-aci.")
        models = tuple(backend.get_model(*_split(mid)) for mid in source.model_ids)
        inference = source.inference
    else:
        models = tuple(backend.get_model(ref.name, ref.version) for ref in options.models)
        assert options.inference is not None
        inference = options.inference
    missing = missing_pip_packages(inference)
    if missing:
        runner.warning("The environment lists pip packages this Python does not have: " + ", ".join(missing) +
                       ". The local endpoint runs score.py in this Python; install them if score.py imports them.",
                       title="mlops-ci environment")

    with runner.group(f"Preflight of {inference.entry_script}"):
        with tempfile.TemporaryDirectory(prefix="mlops-ci-models-") as scratch:
            for model in models:
                backend.download_model(model.name, model.version, Path(scratch))
            preflight = run_preflight(
                source_directory=inference.source_directory, entry_script=inference.entry_script,
                model_dir=model_dir_for(Path(scratch), [(m.name, m.version) for m in models]),
                sample=options.sample, environment=inference.environment_variables, timeout=_left(deadline))
        runner.info(f"init() and run(sample) succeeded in {preflight.seconds:.2f} s.")

    smoke: list[SmokeResult] = []

    def verify(candidate: CandidateEndpoint) -> None:
        runner.info(f"Smoke test of the new version at {candidate.scoring_uri}")
        smoke.append(smoke_test(candidate.scoring_uri, options.sample, candidate.headers, count=1,
                                timeout=_left(deadline), expected=options.expected))

    spec = ServiceSpec(name=options.service_name, models=models, inference=inference, deployment=options.deployment,
                       instance_type=options.instance_type, cluster_input=options.cluster_input)
    action = "Swapping" if previous else "Deploying"
    runner.info(f"{action} {options.compute_type} service '{options.service_name}' with "
                f"{', '.join(m.id for m in models)} ({options.deployment.replicas} replica(s), "
                f"{options.deployment.auth_mode} auth).")
    extra: dict[str, str] = {"previous-model-ids": ",".join(previous.model_ids) if previous else ""} if promote else {}
    try:
        service = backend.begin_create_or_update_service(spec, verify=verify).result(_left(deadline))
    except MlopsCiError as exc:
        _explain_failure(ctx, exc, options, previous, promote, extra)
        raise
    credential = _credential(ctx, service)
    outputs = {
        "service-name": service.name,
        "scoring-uri": service.scoring_uri,
        "swagger-uri": service.swagger_uri,
        "service-state": service.state,
        "model-ids": ",".join(service.model_ids),
        "scoring-key": credential,
        **extra,
    }
    if promote:
        outputs["rolled-back"] = "false"
    latency = f"{smoke[0].latencies_ms[0]:.1f} ms" if smoke else "not run"
    verb = "Swapped" if previous else "Deployed"
    done = (f"{verb} {options.compute_type} service `{service.name}` with {_ids(service.model_ids)}: "
            f"healthy and smoke-tested at `{service.scoring_uri}`.")
    details = summary.render(
        "deploy.md", preflight=f"{preflight.seconds:.2f} s", smoke=latency, auth=service.auth_mode,
        replicas=str(service.replicas), previous=_ids(previous.model_ids) if previous else "none (a new service)",
        scoring_uri=service.scoring_uri, source=options.source_service or "—", cluster=_cluster_cell(options, ctx))
    if service.not_applied:
        details += summary.render("not-applied.md", items="\n".join(f"- {s}" for s in service.not_applied))
    return TaskResult(outputs=outputs, done=done, links=[("swagger.json", service.swagger_uri)], details=details)


def _explain_failure(ctx: Context, exc: MlopsCiError, options: DeployOptions, previous: Service | None,
                     promote: bool, extra: dict[str, str]) -> None:
    """Add what a person needs after a failed deploy: whether the old version still serves, and the logs."""
    after = _existing(ctx, options.service_name)
    kept = previous is not None and after is not None and after.state == "Healthy" \
        and after.model_ids == previous.model_ids
    if promote:
        exc.outputs.update({**extra, "rolled-back": "true" if kept else "false"})
    if kept:
        exc.why = ((exc.why + " ") if exc.why else "") + (
            f"The previous version ({_ids(previous.model_ids) if previous else ''}) is still serving: nothing changed.")
    if not exc.logs and after is not None:
        try:
            exc.logs = ctx.backend.get_service_logs(options.service_name, tail=FAILURE_LOG_LINES)
        except MlopsCiError:
            pass


def _cluster_cell(options: DeployOptions, ctx: Context) -> str:
    name = options.deployment.compute_target_name
    if not options.PROMOTE:
        return "—"
    if ctx.settings.backend == "local":
        # There is no cluster on a runner: the name is kept in the service's record so the step reads the same.
        return f"`{name}` (recorded only: the local backend serves on this machine)" if name else "none (local)"
    return f"`{name}`"


def _existing(ctx: Context, name: str) -> Service | None:
    try:
        return ctx.backend.get_service(name)
    except ResourceNotFound:
        return None


def _credential(ctx: Context, service: Service) -> str:
    if service.auth_mode == "key":
        return ctx.backend.get_service_keys(service.name).primary
    if service.auth_mode == "token":
        return ctx.backend.get_service_token(service.name).token
    return ""


def _split(model_id: str) -> tuple[str, int]:
    name, _, version = model_id.rpartition(":")
    return name, int(version)


def _ids(ids: tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in ids) or "no models"


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        from mlops_ci.errors import OperationTimeout

        raise OperationTimeout("The step ran out of its 'timeout-minutes' before the deployment finished.",
                               fix="Raise 'timeout-minutes'.")
    return left
