"""Web services on Azure ML: ACI and AKS deployments, updated in place with a smoke test and a rollback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azureml_v1 import sdk
from mlops_ci.deployconfig import DeploymentConfig, InferenceConfig
from mlops_ci.domain import CandidateEndpoint, Service, ServiceKeys, ServiceSpec, ServiceToken
from mlops_ci.errors import InputError, MlopsCiError, OperationTimeout, ResourceNotFound, ServiceError

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v1.backend import AzureMLBackend

INFERENCE_PROPERTY = "mlops-ci.inference"
DEPLOYMENT_PROPERTY = "mlops-ci.deployment"
TERMINAL = ("Succeeded", "Failed", "Cancelled", "TimedOut")
LOG_LINES = 100
# What an update may change, and so what a rollback puts back, in the service record (JSON patch paths).
ROLLBACK_FIELDS = ("environmentImageRequest", "authEnabled", "aadAuthEnabled", "appInsightsEnabled",
                   "containerResourceRequirements", "autoScaler", "numReplicas", "scoringTimeoutMs", "kvTags")


def _auth_mode(service: Any) -> str:
    if getattr(service, "token_auth_enabled", False):
        return "token"
    return "key" if getattr(service, "auth_enabled", False) else "none"


def to_service(service: Any) -> Service:
    properties = dict(service.properties or {})
    inference = deployment = None
    if properties.get(INFERENCE_PROPERTY):
        inference = InferenceConfig.from_dict(json.loads(properties[INFERENCE_PROPERTY]))
    if properties.get(DEPLOYMENT_PROPERTY):
        deployment = DeploymentConfig.from_dict(json.loads(properties[DEPLOYMENT_PROPERTY]))
    replicas = getattr(service, "num_replicas", None)
    autoscaler = getattr(service, "autoscaler", None)
    if not replicas and autoscaler is not None:
        replicas = autoscaler.min_replicas
    created = getattr(service, "created_time", None)
    updated = getattr(service, "updated_time", None)
    return Service(
        name=service.name, compute_type=service.compute_type, state=service.state or "",
        scoring_uri=service.scoring_uri or "", swagger_uri=service.swagger_uri or "",
        model_ids=tuple(m.id for m in (service.models or [])), auth_mode=_auth_mode(service),
        replicas=int(replicas or 1), created_at=created.isoformat() if hasattr(created, "isoformat") else "",
        updated_at=updated.isoformat() if hasattr(updated, "isoformat") else "", inference=inference,
        deployment=deployment)


def _environment(spec: ServiceSpec) -> Any:
    from azureml.core import Environment
    from azureml.core.conda_dependencies import CondaDependencies

    inference = spec.inference
    environment = Environment(inference.environment_name or f"{spec.name}-env")
    if inference.pip_packages or inference.conda_packages:
        environment.python.conda_dependencies = CondaDependencies.create(
            pip_packages=list(inference.pip_packages), conda_packages=list(inference.conda_packages))
    else:
        environment.python.user_managed_dependencies = True
    environment.environment_variables = dict(inference.environment_variables)
    return environment


def _config_kwargs(spec: ServiceSpec) -> dict[str, Any]:
    d = spec.deployment
    kwargs: dict[str, Any] = {
        "cpu_cores": d.cpu, "memory_gb": d.memory_gb, "enable_app_insights": d.app_insights_enabled,
        "auth_enabled": d.auth_enabled and not d.token_auth_enabled,
        "primary_key": d.primary_key or None, "secondary_key": d.secondary_key or None,
        "properties": {INFERENCE_PROPERTY: json.dumps(spec.inference.portable().to_dict(), sort_keys=True),
                       DEPLOYMENT_PROPERTY: json.dumps(d.to_dict(), sort_keys=True)},
    }
    if d.compute_type == "AKS":
        kwargs.update(autoscale_enabled=d.autoscale_enabled, autoscale_min_replicas=d.min_replicas,
                      autoscale_max_replicas=d.max_replicas, autoscale_target_utilization=d.target_utilization,
                      num_replicas=None if d.autoscale_enabled else d.num_replicas,
                      scoring_timeout_ms=d.scoring_timeout_ms, token_auth_enabled=d.token_auth_enabled)
    return {k: v for k, v in kwargs.items() if v is not None}


def _aci_not_updatable(spec: ServiceSpec, previous: dict[str, Any]) -> tuple[str, ...]:
    """What an in-place ACI update cannot change (AciWebservice.update takes neither resources nor keys)."""
    d = spec.deployment
    current = previous.get("containerResourceRequirements") or {}
    changed = [(key, wanted, current.get(key)) for key, wanted in (("cpu", d.cpu), ("memoryInGB", d.memory_gb))
               if wanted is not None and (current.get(key) is None or float(current[key]) != wanted)]
    notes = []
    if changed:
        keys = " and ".join(f"containerResourceRequirements.{k} ({w:g}; the service has "
                            f"{c if c is not None else 'the default'})" for k, w, c in changed)
        notes.append(f"deployment-config {keys} not applied to ACI service '{spec.name}': an ACI web service's CPU and "
                     "memory cannot change in place. Delete the service and deploy it again to change them.")
    if d.primary_key or d.secondary_key:
        notes.append(f"deployment-config keys.primaryKey/secondaryKey not applied to ACI service '{spec.name}': an "
                     "in-place update keeps the service's keys. Delete the service and deploy it again to set them.")
    return tuple(notes)


class ServiceOperation:
    """A submitted create or update: result() follows its operation, smoke-tests, and rolls back on failure."""

    def __init__(self, backend: AzureMLBackend, spec: ServiceSpec, operation_url: str, previous: dict[str, Any] | None,
                 verify: Callable[[CandidateEndpoint], None] | None, not_applied: tuple[str, ...] = ()) -> None:
        self.not_applied = not_applied
        self.backend = backend
        self.spec = spec
        self.operation_url = operation_url
        self.previous = previous
        self.verify = verify
        self._state = "Running"

    def done(self) -> bool:
        return self._state in TERMINAL

    def status(self) -> str:
        return self._state

    def result(self, timeout: float) -> Service:
        backend, name = self.backend, self.spec.name
        deadline = time.monotonic() + timeout
        try:
            self._state, error = backend._wait_operation(self.operation_url, f"Deployment of {name}", deadline)
            if self._state != "Succeeded":
                raise ServiceError(f"Deployment of service '{name}' ended {self._state}: {error or 'no reason given'}",
                                   fix="Read the service logs below; run score.py's init() locally to reproduce.",
                                   logs=backend._logs_or_empty(name))
            service = backend.get_service(name)
            if self.verify is not None:
                self.verify(backend._candidate(service))
            return replace(service, not_applied=self.not_applied)
        except MlopsCiError as exc:
            if self.previous is not None:
                backend._roll_back(name, self.previous, deadline, exc)
            elif isinstance(exc, OperationTimeout) and not exc.logs:
                exc.logs = backend._logs_or_empty(name)
            raise


class ServiceVerbs:
    # -- models for the preflight ----------------------------------------------------------------------------
    def download_model(self: AzureMLBackend, name: str, version: int, dest: Path) -> Path:
        from azureml.core import Model

        workspace = self.workspace
        target = dest / name / str(version)
        target.mkdir(parents=True, exist_ok=True)
        model = self.call(f"Looking up model {name}:{version}", lambda: Model(workspace, name=name, version=version))
        self.call(f"Downloading model {name}:{version}", lambda: model.download(target_dir=str(target), exist_ok=True))
        return target

    # -- reading ---------------------------------------------------------------------------------------------
    def _webservice(self: AzureMLBackend, name: str) -> Any:
        from azureml.core.webservice import Webservice

        workspace = self.workspace
        try:
            return self.call(f"Looking up service {name}", lambda: Webservice(workspace, name))
        except MlopsCiError:
            raise
        except Exception as exc:
            if sdk.http_status(exc) == 404 or "not found" in str(exc).lower():
                raise ResourceNotFound("service-name", f"Service '{name}' does not exist in workspace "
                                       f"{self.ref.workspace_name}.",
                                       fix="Check service-name, or deploy it first with deploy-aci.") from exc
            raise ServiceError(f"Azure ML could not read service '{name}': {sdk.error_text(exc)}") from exc

    def get_service(self: AzureMLBackend, name: str) -> Service:
        return to_service(self._webservice(name))

    def list_services(self: AzureMLBackend) -> list[Service]:
        from azureml.core.webservice import Webservice

        workspace = self.workspace
        return [to_service(s) for s in self.call("Listing services", lambda: Webservice.list(workspace))]

    def get_service_keys(self: AzureMLBackend, name: str) -> ServiceKeys:
        service = self._webservice(name)
        primary, secondary = self.call(f"Reading the keys of {name}", service.get_keys)
        self.runner.mask(primary)
        self.runner.mask(secondary)
        return ServiceKeys(primary=primary or "", secondary=secondary or "")

    def get_service_token(self: AzureMLBackend, name: str) -> ServiceToken:
        service = self._webservice(name)
        token, refresh_after = self.call(f"Getting a token for {name}", service.get_token)
        self.runner.mask(token)
        return ServiceToken(token=token, refresh_after=float(refresh_after or 0))

    def get_service_logs(self: AzureMLBackend, name: str, *, tail: int | None = None) -> str:
        service = self._webservice(name)
        text = self.call(f"Reading the logs of {name}", lambda: service.get_logs(num_lines=tail or 5000))
        return self.runner.redact(str(text or ""))

    def _logs_or_empty(self: AzureMLBackend, name: str) -> str:
        try:
            return self.get_service_logs(name, tail=LOG_LINES)
        except Exception as exc:  # noqa: BLE001 - logs are a courtesy on a failure path
            return f"(the service logs could not be read: {sdk.error_text(exc, 200)})"

    # -- writing ---------------------------------------------------------------------------------------------
    def _mms(self: AzureMLBackend, method: str, suffix: str, body: Any = None, *, what: str,
             deadline: float | None = None) -> Any:
        from azureml._model_management._util import make_mms_request

        workspace = self.workspace
        return self.call(what, lambda: make_mms_request(workspace, method, suffix, body), deadline=deadline)

    def _wait_operation(self: AzureMLBackend, url: str, what: str, deadline: float) -> tuple[str, str]:
        """Poll an MMS operation until it ends or the deadline passes; a progress line per state change."""
        from azureml._model_management._util import make_http_request

        started = time.monotonic()
        last = ""
        while True:
            reply = self.call(f"{what}: status", lambda: make_http_request(
                "GET", url, headers=self.auth.get_authentication_header()), deadline=deadline).json()
            state = reply.get("state") or "Running"
            if state != last:
                self.runner.info(f"{what}: {state} ({time.monotonic() - started:.1f} s elapsed).")
                last = state
            if state in TERMINAL:
                error = reply.get("error") or {}
                return state, str(error.get("message") or "")
            if time.monotonic() + self.policy.poll_seconds > deadline:
                raise OperationTimeout(f"{what} was still {state} after {time.monotonic() - started:.0f} s.",
                                       fix="Raise timeout-minutes, or read the logs below to see where it hangs.",
                                       why="Azure may still finish the operation; the service's state will say.")
            time.sleep(self.policy.poll_seconds)

    def _aks_target(self: AzureMLBackend, spec: ServiceSpec) -> Any:
        from azureml.core.compute import AksCompute, ComputeTarget

        workspace = self.workspace
        name = spec.deployment.compute_target_name
        targets = self.call("Listing compute targets", lambda: ComputeTarget.list(workspace))
        aks = sorted(t.name for t in targets if isinstance(t, AksCompute))
        found = [t for t in targets if t.name == name]
        listing = ", ".join(aks) if aks else "none"
        source = spec.cluster_input
        if not name:
            raise InputError("aks-cluster", "promote-aks names no AKS cluster: input 'aks-cluster' is empty and the "
                             "deployment config has no computeTargetName.",
                             fix=f"Set aks-cluster to one of the AKS targets found: {listing}.")
        if not found or not isinstance(found[0], AksCompute):
            what = f"is a {type(found[0]).__name__}, not AKS" if found else "does not exist"
            named = f"names AKS cluster '{name}'" if source == "aks-cluster" else \
                f"names AKS cluster '{name}' (computeTargetName)"
            raise InputError(source, f"Input '{source}' {named}, which {what} in workspace "
                             f"{self.ref.workspace_name}.",
                             fix=f"Use one of the AKS targets found: {listing}. Nothing was deployed (there is no "
                                 "fallback to ACI).")
        return found[0]

    def begin_create_or_update_service(self: AzureMLBackend, spec: ServiceSpec, *,
                                       verify: Callable[[CandidateEndpoint], None] | None = None) -> ServiceOperation:
        from azureml.core import Model
        from azureml.core.model import InferenceConfig as SdkInferenceConfig
        from azureml.core.webservice import AciWebservice, AksWebservice

        workspace = self.workspace
        aks = spec.deployment.compute_type == "AKS"
        target = self._aks_target(spec) if aks else None
        try:
            existing = self._webservice(spec.name)
        except ResourceNotFound:
            existing = None
        if existing is not None and existing.compute_type != spec.deployment.compute_type:
            raise InputError("service-name", f"Service '{spec.name}' exists as {existing.compute_type}, not "
                             f"{spec.deployment.compute_type}.", fix="Choose another service-name, or delete it.")
        not_applied: tuple[str, ...] = ()
        models = [self.call(f"Looking up model {m.id}", lambda m=m: Model(workspace, name=m.name, version=m.version))
                  for m in spec.models]
        inference = SdkInferenceConfig(entry_script=spec.inference.entry_script,
                                       source_directory=str(spec.inference.source_directory),
                                       environment=_environment(spec))
        kwargs = _config_kwargs(spec)
        if existing is None:
            config_class = AksWebservice if aks else AciWebservice
            config = config_class.deploy_configuration(**kwargs)
            service = self.call(f"Deploying service {spec.name}", lambda: Model.deploy(
                workspace, spec.name, models, inference, config, deployment_target=target, overwrite=False))
            previous = None
        else:
            previous = self._mms("GET", f"/services/{spec.name}", what=f"Reading service {spec.name}").json()
            if not aks:
                not_applied = _aci_not_updatable(spec, previous)
                for sentence in not_applied:
                    self.runner.warning(sentence, title="mlops-ci ACI update")
            update = {k: v for k, v in kwargs.items() if k not in ("cpu_cores", "memory_gb", "primary_key",
                                                                   "secondary_key")} if not aks else kwargs
            service = existing
            self.call(f"Updating service {spec.name}", lambda: existing.update(models=models,
                                                                              inference_config=inference, **update))
        return ServiceOperation(self, spec, service._operation_endpoint, previous, verify, not_applied)

    def _candidate(self: AzureMLBackend, service: Service) -> CandidateEndpoint:
        headers: dict[str, str] = {}
        if service.auth_mode == "key":
            headers = {"Authorization": f"Bearer {self.get_service_keys(service.name).primary}"}
        elif service.auth_mode == "token":
            headers = {"Authorization": f"Bearer {self.get_service_token(service.name).token}"}
        return CandidateEndpoint(scoring_uri=service.scoring_uri, swagger_uri=service.swagger_uri, headers=headers)

    def _roll_back(self: AzureMLBackend, name: str, previous: dict[str, Any], deadline: float,
                   cause: MlopsCiError) -> None:
        """Put the previous models and configuration back; the cause still propagates, explained."""
        ids = ", ".join(m.get("id", "?") for m in previous.get("models") or []) or "no models"
        self.runner.warning(f"Rolling service '{name}' back to its previous version ({ids}).",
                            title="mlops-ci rollback")
        patch = [{"op": "replace", "path": f"/{key}", "value": previous[key]}
                 for key in ROLLBACK_FIELDS if key in previous]
        # The rollback gets the time left, and at least a few minutes: leaving a broken production is worse.
        rollback_deadline = max(deadline, time.monotonic() + 300)
        try:
            reply = self._mms("PATCH", f"/services/{name}", patch, what=f"Rolling back {name}",
                              deadline=rollback_deadline)
            location = reply.headers.get("Operation-Location", "")
            if location:
                state, error = self._wait_operation(location, f"Rollback of {name}", rollback_deadline)
                if state != "Succeeded":
                    raise ServiceError(f"the rollback ended {state}: {error}")
        except MlopsCiError as exc:
            cause.why = (cause.why + " " if cause.why else "") + \
                f"Rolling back to {ids} failed too ({exc.message}); the service needs attention."
            return
        cause.why = (cause.why + " " if cause.why else "") + f"Service '{name}' was rolled back to {ids}."
        if not cause.logs:
            cause.logs = self._logs_or_empty(name)

    def delete_service(self: AzureMLBackend, name: str, *, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        try:
            self._webservice(name)
        except ResourceNotFound:
            return False
        reply = self._mms("DELETE", f"/services/{name}", what=f"Deleting service {name}", deadline=deadline)
        if reply.status_code == 204:
            return False
        location = reply.headers.get("Operation-Location", "")
        if reply.status_code == 202 and location:
            state, error = self._wait_operation(location, f"Deletion of {name}", deadline)
            if state != "Succeeded":
                raise ServiceError(f"Deleting service '{name}' ended {state}: {error}")
        return True
