"""Online endpoints on SDK v2: deploy-aci on a managed endpoint, promote-aks on a Kubernetes one, both blue/green.

A new deployment is created at 0 % traffic, smoke-tested through the `azureml-model-deployment` header, given 100 %,
and the old deployment is deleted; when anything before the traffic switch fails, traffic stays where it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azureml_v2.translate import BASE_IMAGE, online_settings
from mlops_ci.deployconfig import DeploymentConfig, InferenceConfig
from mlops_ci.domain import CandidateEndpoint, Service, ServiceKeys, ServiceSpec, ServiceToken
from mlops_ci.errors import InputError, MlopsCiError, ResourceNotFound, ServiceError

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v2.backend import AzureMLV2Backend

INFERENCE_PROPERTY = "mlops-ci.inference"
DEPLOYMENT_PROPERTY = "mlops-ci.deployment"
SLOTS = ("blue", "green")
# The SDK's names of the two containers whose logs getLogs returns (InferenceServer, StorageInitializer on the wire).
LOG_CONTAINERS = {"inference-server": "InferenceServer", "storage-initializer": "StorageInitializer"}
LOG_LINES = 100
ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
STATES = {"Succeeded": "Healthy", "Failed": "Failed", "Canceled": "Failed"}
MODEL_ID = re.compile(r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$")


def model_id(reference: str | None) -> str:
    found = MODEL_ID.search(reference or "")
    if found:
        return f"{found.group('name')}:{found.group('version')}"
    return (reference or "").removeprefix("azureml:")


def _text(value: Any) -> str:
    """An SDK enum's value (str() of a str enum is its qualified name on Python 3.11)."""
    return str(getattr(value, "value", value) or "")


def live_deployment(endpoint: Any) -> str:
    traffic = {k: int(v) for k, v in (endpoint.traffic or {}).items() if int(v) > 0}
    return max(traffic, key=lambda k: traffic[k]) if traffic else ""


class NewDeployment:
    """The poller of one blue/green rollout: result() runs it to the end (or rolls it back) within the timeout."""

    def __init__(self, backend: AzureMLV2Backend, spec: ServiceSpec, run: Callable[[float], Service]) -> None:
        self.backend = backend
        self.spec = spec
        self._run = run
        self._state = "NotStarted"

    def done(self) -> bool:
        return self._state in ("Succeeded", "Failed")

    def status(self) -> str:
        return self._state

    def result(self, timeout: float) -> Service:
        self._state = "Running"
        try:
            service = self._run(time.monotonic() + timeout)
        except BaseException:
            self._state = "Failed"
            raise
        self._state = "Succeeded"
        return service


class EndpointVerbs:
    # -- reading -------------------------------------------------------------------------------------------------
    def _endpoint(self: AzureMLV2Backend, name: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.client
        try:
            return self.call(f"Looking up online endpoint {name}", lambda: client.online_endpoints.get(name))
        except ResourceNotFoundError as exc:
            raise ResourceNotFound("service-name", f"Online endpoint '{name}' does not exist in workspace "
                                   f"{self.ref.workspace_name}.",
                                   fix="Check service-name, or deploy it first with deploy-aci.") from exc

    def _deployments(self: AzureMLV2Backend, name: str) -> list[Any]:
        client = self.client
        return self.call(f"Listing the deployments of {name}",
                         lambda: list(client.online_deployments.list(endpoint_name=name)))

    def _to_service(self: AzureMLV2Backend, endpoint: Any, deployments: list[Any] | None = None) -> Service:
        deployments = self._deployments(endpoint.name) if deployments is None else deployments
        live = live_deployment(endpoint)
        current = next((d for d in deployments if d.name == live), None)
        state = STATES.get(_text(endpoint.provisioning_state), "Transitioning")
        if state == "Healthy":
            state = "Unhealthy" if current is None else STATES.get(_text(current.provisioning_state), "Transitioning")
        properties = dict(endpoint.properties or {})
        inference = deployment = None
        if INFERENCE_PROPERTY in properties:
            inference = InferenceConfig.from_dict(json.loads(properties[INFERENCE_PROPERTY]))
        if DEPLOYMENT_PROPERTY in properties:
            deployment = DeploymentConfig.from_dict(json.loads(properties[DEPLOYMENT_PROPERTY]))
        kubernetes = bool(getattr(endpoint, "compute", None))
        return Service(
            name=endpoint.name, compute_type="AKS" if kubernetes else "ACI", state=state,
            scoring_uri=endpoint.scoring_uri or "", swagger_uri=endpoint.openapi_uri or "",
            model_ids=(model_id(current.model),) if current is not None and current.model else (),
            auth_mode="token" if _text(endpoint.auth_mode).lower() == "aml_token" else "key",
            replicas=int(current.instance_count or 1) if current is not None else 0,
            inference=inference, deployment=deployment)

    def get_service(self: AzureMLV2Backend, name: str) -> Service:
        return self._to_service(self._endpoint(name))

    def list_services(self: AzureMLV2Backend) -> list[Service]:
        client = self.client
        endpoints = self.call("Listing online endpoints", lambda: list(client.online_endpoints.list()))
        return [self._to_service(e) for e in endpoints]

    def get_service_keys(self: AzureMLV2Backend, name: str) -> ServiceKeys:
        client = self.client
        keys = self.call(f"Reading the keys of {name}", lambda: client.online_endpoints.get_keys(name))
        primary, secondary = getattr(keys, "primary_key", "") or "", getattr(keys, "secondary_key", "") or ""
        self.runner.mask(primary)
        self.runner.mask(secondary)
        if not primary:
            raise InputError("service-name", f"Online endpoint '{name}' uses token auth: it has no keys.",
                             fix="Use its token (the scoring-key output) instead.")
        return ServiceKeys(primary=primary, secondary=secondary)

    def get_service_token(self: AzureMLV2Backend, name: str) -> ServiceToken:
        client = self.client
        token = self.call(f"Getting a token for {name}", lambda: client.online_endpoints.get_keys(name))
        value = getattr(token, "access_token", "") or ""
        self.runner.mask(value)
        return ServiceToken(token=value, refresh_after=float(getattr(token, "refresh_after_time_utc", 0) or 0))

    def get_service_logs(self: AzureMLV2Backend, name: str, *, tail: int | None = None) -> str:
        endpoint = self._endpoint(name)
        live = live_deployment(endpoint)
        deployments = sorted(self._deployments(name), key=lambda d: d.name != live)
        client = self.client
        parts = []
        for deployment in deployments:
            share = (endpoint.traffic or {}).get(deployment.name, 0)
            for container, shown in LOG_CONTAINERS.items():
                text = self.call(f"Reading the {shown} logs of {name}/{deployment.name}",
                                 lambda d=deployment, c=container: client.online_deployments.get_logs(
                                     d.name, name, lines=tail or 5000, container_type=c))
                parts.append(f"=== deployment {deployment.name} ({share} % of traffic): {shown} ===\n{text}")
        return self.runner.redact("\n".join(parts))

    def _logs_or_empty(self: AzureMLV2Backend, name: str) -> str:
        try:
            return self.get_service_logs(name, tail=LOG_LINES)
        except Exception as exc:  # noqa: BLE001 - logs are a courtesy on a failure path
            return f"(the deployment logs could not be read: {str(exc)[:200]})"

    def download_model_files(self: AzureMLV2Backend, name: str, version: int, dest: Path) -> Path:
        return self.download_model(name, version, dest)

    # -- writing -------------------------------------------------------------------------------------------------
    def _kubernetes_compute(self: AzureMLV2Backend, spec: ServiceSpec) -> str:
        client = self.client
        name = spec.deployment.compute_target_name
        computes = self.call("Listing compute targets", lambda: list(client.compute.list()))
        kinds = {c.name: str(c.type).lower() for c in computes}
        found = sorted(n for n, k in kinds.items() if k == "kubernetes")
        listing = ", ".join(found) if found else "none"
        if not name:
            raise InputError("aks-cluster", "promote-aks names no Kubernetes compute: input 'aks-cluster' is empty "
                             "and the deployment config has no computeTargetName.",
                             fix=f"Set aks-cluster to one of the Kubernetes computes attached to the workspace: "
                                 f"{listing}.")
        if kinds.get(name) != "kubernetes":
            what = f"is a {kinds[name]} compute, not Kubernetes" if name in kinds else "does not exist"
            source = spec.cluster_input
            raise InputError(source, f"Input '{source}' names compute '{name}', which {what} in workspace "
                             f"{self.ref.workspace_name}.",
                             fix=f"Use one of the Kubernetes computes found: {listing}. Nothing was deployed (there "
                                 "is no fallback to a managed endpoint).")
        return name

    def begin_create_or_update_service(self: AzureMLV2Backend, spec: ServiceSpec, *,
                                       verify: Callable[[CandidateEndpoint], None] | None = None) -> NewDeployment:
        if not ENDPOINT_NAME.match(spec.name):
            raise InputError("service-name", f"Input 'service-name' is '{spec.name}', which is not an online "
                             "endpoint name.", fix="Use 3 to 32 letters, digits and dashes, starting with a letter "
                                                   "(online endpoint names are unique in the Azure region).")
        if len(spec.models) != 1:
            raise InputError("model", f"Input 'model' names {len(spec.models)} models; an Azure ML SDK v2 online "
                             "deployment serves exactly one.",
                             fix="Deploy one model per endpoint, or register the models as one folder model.")
        kubernetes = spec.deployment.compute_type == "AKS"
        compute = self._kubernetes_compute(spec) if kubernetes else ""
        settings = online_settings(spec.deployment, spec.inference, kubernetes=kubernetes,
                                   instance_type=spec.instance_type)
        for note in settings.notes:
            self.runner.warning(note, title="mlops-ci azureml-sdk v2")
        try:
            existing = self._endpoint(spec.name)
        except ResourceNotFound:
            existing = None
        if existing is not None and bool(getattr(existing, "compute", None)) != kubernetes:
            kind = "Kubernetes" if getattr(existing, "compute", None) else "managed"
            raise InputError("service-name", f"Online endpoint '{spec.name}' exists as a {kind} endpoint.",
                             fix="Choose another service-name, or delete it first.")
        return NewDeployment(self, spec, lambda deadline: self._roll_out(spec, settings, compute, existing,
                                                                         deadline, verify))

    def _roll_out(self: AzureMLV2Backend, spec: ServiceSpec, settings: Any, compute: str, existing: Any,
                  deadline: float, verify: Callable[[CandidateEndpoint], None] | None) -> Service:
        from azure.ai.ml.entities import (
            CodeConfiguration,
            Environment,
            KubernetesOnlineDeployment,
            KubernetesOnlineEndpoint,
            ManagedOnlineDeployment,
            ManagedOnlineEndpoint,
            OnlineRequestSettings,
            ProbeSettings,
            TargetUtilizationScaleSettings,
        )

        client = self.client
        name = spec.name
        properties = {INFERENCE_PROPERTY: json.dumps(spec.inference.portable().to_dict(), sort_keys=True),
                      DEPLOYMENT_PROPERTY: json.dumps(spec.deployment.to_dict(), sort_keys=True)}
        endpoint = existing
        if endpoint is None:
            endpoint_class = KubernetesOnlineEndpoint if compute else ManagedOnlineEndpoint
            extra = {"compute": compute} if compute else {}
            new = endpoint_class(name=name, auth_mode=settings.auth_mode, properties=properties,
                                 description="Deployed by mlops-ci", **extra)
            poller = self.call(f"Creating online endpoint {name}",
                               lambda: client.online_endpoints.begin_create_or_update(new))
            self.wait(poller, f"Creation of endpoint {name}", deadline)
            endpoint = self._endpoint(name)
        previous = live_deployment(endpoint)
        slot = SLOTS[1] if previous == SLOTS[0] else SLOTS[0]
        stale = {d.name for d in self._deployments(name)} - {previous}
        for leftover in sorted(stale):
            # A candidate left by an earlier failed rollout: it takes no traffic, so it can go.
            self._delete_deployment(name, leftover, deadline)
        model = spec.models[0]
        deployment_class = KubernetesOnlineDeployment if compute else ManagedOnlineDeployment
        extra: dict[str, Any] = {}
        if settings.scale_settings:
            scale = dict(settings.scale_settings)
            scale.pop("type")
            extra["scale_settings"] = TargetUtilizationScaleSettings(**scale)
        if settings.request_settings:
            extra["request_settings"] = OnlineRequestSettings(**settings.request_settings)
        if settings.liveness_probe:
            extra["liveness_probe"] = ProbeSettings(**settings.liveness_probe)
        deployment = deployment_class(
            name=slot, endpoint_name=name, model=f"azureml:{model.name}:{model.version}",
            code_configuration=CodeConfiguration(code=str(spec.inference.source_directory),
                                                 scoring_script=spec.inference.entry_script),
            environment=Environment(image=BASE_IMAGE, conda_file=settings.conda),
            environment_variables=settings.environment_variables or None,
            instance_type=settings.instance_type or None, instance_count=settings.instance_count,
            app_insights_enabled=settings.app_insights_enabled, **extra)
        self.runner.info(f"Deploying {model.id} as deployment '{slot}' of endpoint {name} at 0 % of the traffic"
                         + (f" (deployment '{previous}' keeps 100 %)." if previous else "."))
        try:
            poller = self.call(f"Creating deployment {name}/{slot}",
                               lambda: client.online_deployments.begin_create_or_update(
                                   deployment, skip_script_validation=True))
            self.wait(poller, f"Deployment {name}/{slot}", deadline)
            if verify is not None:
                keys_or_token = self._bearer(name, settings.auth_mode)
                endpoint = self._endpoint(name)
                verify(CandidateEndpoint(scoring_uri=endpoint.scoring_uri, swagger_uri=endpoint.openapi_uri or "",
                                         headers={"Authorization": f"Bearer {keys_or_token}",
                                                  "azureml-model-deployment": slot}))
        except MlopsCiError as exc:
            self._failed_candidate(name, slot, previous, deadline, exc)
            raise
        except Exception as exc:
            from mlops_ci.backends.azureml_v2.backend import message_of

            error = ServiceError(f"Deployment '{slot}' of endpoint '{name}' failed: {message_of(exc)}",
                                 fix="Read the deployment logs below; run score.py's init() locally to reproduce.")
            self._failed_candidate(name, slot, previous, deadline, error)
            raise error from exc
        # The new deployment answered: give it the traffic, then retire the old one.
        endpoint = self._endpoint(name)
        endpoint.traffic = {slot: 100, **({previous: 0} if previous else {})}
        endpoint.properties = {**dict(endpoint.properties or {}), **properties}
        poller = self.call(f"Moving the traffic of {name} to '{slot}'",
                           lambda: client.online_endpoints.begin_create_or_update(endpoint))
        self.wait(poller, f"Traffic switch of {name} to '{slot}'", max(deadline, time.monotonic() + 60))
        if previous:
            self._delete_deployment(name, previous, max(deadline, time.monotonic() + 60))
        return self.get_service(name)

    def _bearer(self: AzureMLV2Backend, name: str, auth_mode: str) -> str:
        if auth_mode == "aml_token":
            return self.get_service_token(name).token
        return self.get_service_keys(name).primary

    def _failed_candidate(self: AzureMLV2Backend, name: str, slot: str, previous: str, deadline: float,
                          exc: MlopsCiError) -> None:
        """Keep the traffic where it is, attach the candidate's logs, and remove it when an old version serves."""
        # The deployment's own logs first: they say why it failed; what the call said comes after.
        exc.logs = self._logs_or_empty(name) + (f"\n\n{exc.logs}" if exc.logs else "")
        if previous:
            self.runner.warning(f"Deployment '{slot}' of endpoint '{name}' failed; the traffic stays on "
                                f"'{previous}' and '{slot}' is deleted.", title="mlops-ci rollback")
            try:
                self._delete_deployment(name, slot, max(deadline, time.monotonic() + 120))
            except MlopsCiError as cleanup:
                exc.why = (exc.why + " " if exc.why else "") + f"Deleting '{slot}' failed too ({cleanup.message})."
                return
            exc.why = (exc.why + " " if exc.why else "") + \
                f"Endpoint '{name}' still sends all its traffic to deployment '{previous}'."

    def _delete_deployment(self: AzureMLV2Backend, endpoint: str, name: str, deadline: float) -> None:
        client = self.client
        poller = self.call(f"Deleting deployment {endpoint}/{name}",
                           lambda: client.online_deployments.begin_delete(name=name, endpoint_name=endpoint))
        self.wait(poller, f"Deletion of deployment {endpoint}/{name}", deadline)

    def delete_service(self: AzureMLV2Backend, name: str, *, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        try:
            self._endpoint(name)
        except ResourceNotFound:
            return False
        client = self.client
        poller = self.call(f"Deleting online endpoint {name}", lambda: client.online_endpoints.begin_delete(name))
        self.wait(poller, f"Deletion of endpoint {name}", deadline)
        return True
