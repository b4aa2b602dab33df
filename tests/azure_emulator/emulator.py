"""The emulator: owns the proxy, the fake services' shared state, the request log and scripted faults."""

from __future__ import annotations

import re
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import arm, arm_v2, blob, history_v2, login, modelmanagement, pipelines, scoring, scoring_v2, workspace_api
from .ca import CertificateAuthority
from .http import Request, Response, Router, error_response, json_response
from .proxy import ProxyServer

TELEMETRY_HOST = "dc.services.visualstudio.com"

# What each scripted fault kind does to the next matching request(s).
FAULT_KINDS = {
    "throttle": "429 Too Many Requests with a Retry-After header (retry_after=seconds, default 1)",
    "server_error": "an error status with Azure's error envelope (status=500|502|503|504, default 503)",
    "reset": "the connection is closed with a TCP reset and no reply",
    "conflict": "409 Conflict: another operation is in progress",
    "operation_failed": "the request succeeds but the operation it starts ends Failed (message=...)",
    "operation_hangs": "the request succeeds but the operation it starts never leaves Running",
    "run_failed": "the pipeline run the request submits ends Failed (message=...)",
}
_STATUS_KINDS = {429: "throttle", 409: "conflict", 500: "server_error", 502: "server_error", 503: "server_error",
                 504: "server_error"}


@dataclass
class RequestRecord:
    """One request the proxy saw, with what the emulator answered (0: refused host, -1: reset)."""

    host: str
    method: str
    path: str
    target: str
    status: int
    seconds: float


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    kind: str
    remaining: int
    options: dict[str, Any]
    host: str | None = None
    delivered: int = 0


@dataclass
class State:
    """Everything the fake services remember; tests may read it and seed it."""

    tokens: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    uncommitted_blocks: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    scoring: dict[str, dict[str, Any]] = field(default_factory=dict)
    scoring_calls: list[dict[str, Any]] = field(default_factory=list)
    computes: dict[str, dict[str, Any]] = field(default_factory=dict)
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    graphs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipeline_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipeline_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    datastores: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # How many status reads a run or service operation answers "Running" before it ends; operations default
    # to 0 because wait_for_deployment sleeps 5 s before every poll after the first.
    run_polls: int = 1
    operation_polls: int = 0


class AzureEmulator:
    """Loopback stand-in for the Azure services the Azure ML SDK v1 talks to."""

    def __init__(self, ca: CertificateAuthority, home: Path, *, region: str = "westeurope",
                 accept_telemetry: bool = True) -> None:
        self.ca = ca
        self.home = Path(home)
        self.region = region
        self.accept_telemetry = accept_telemetry
        self.subscription_id = str(uuid.uuid4())
        self.tenant_id = str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())
        # Looks like a real secret so that a scan of logs and outputs for it finds any leak.
        self.client_secret = "CanaryS3cret~" + uuid.uuid4().hex + "Q~" + uuid.uuid4().hex[:8]
        self.federated_assertion: str | None = None
        self.resource_group = "rg-mlops-ci"
        self.workspace_name = "ws-mlops-ci"
        self.workspace_id = str(uuid.uuid4())
        self.storage_account = "stmlopsci" + uuid.uuid4().hex[:8]
        self.api_host = f"{region}.api.azureml.ms"
        self.blob_host = f"{self.storage_account}.blob.core.windows.net"
        self.state = State()
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.handler_seconds = 0.0
        self._faults: list[Fault] = []
        self.v2 = arm_v2.attach(self)  # the SDK v2 resources (arm_v2, scoring_v2)
        self._routers: dict[str, list[Router]] = {
            login.HOST: [login.build(self)],
            arm.HOST: [arm.build(self), arm_v2.build(self)],
            self.api_host: [workspace_api.build(self), modelmanagement.build(self), pipelines.build(self),
                            history_v2.build(self)],
            self.blob_host: [blob.build(self)],
            arm_v2.SCHEMA_HOST: [arm_v2.build_schemas(self)],
        }
        self._scoring = scoring.build(self)
        self._scoring_v2 = scoring_v2.build(self)
        workspace_api.seed(self)
        self._proxy = ProxyServer(ca, self.knows, self.dispatch, self._refused)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> AzureEmulator:
        self._proxy.start()
        return self

    def stop(self) -> None:
        self._proxy.stop()

    def __enter__(self) -> AzureEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def proxy_url(self) -> str:
        return self._proxy.url

    @property
    def api_host_url(self) -> str:
        return f"https://{self.api_host}"

    @property
    def workspace_scope(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace_name}")

    @property
    def env(self) -> dict[str, str]:
        """Environment that sends every HTTP(S) client of a process through the emulator."""
        proxy = self.proxy_url
        ca_pem = str(self.ca.pem_path)
        return {
            "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy,
            # An inherited NO_PROXY could let a request go around the emulator to the real Azure.
            "NO_PROXY": "", "no_proxy": "", "ALL_PROXY": proxy, "all_proxy": proxy,
            "REQUESTS_CA_BUNDLE": ca_pem, "SSL_CERT_FILE": ca_pem, "CURL_CA_BUNDLE": ca_pem,
            "HOME": str(self.home), "AZURE_CONFIG_DIR": str(self.home / ".azure"),
            # Without it a custom authentication class makes a live cloud-metadata call.
            "AZUREML_CURRENT_CLOUD": "AzureCloud",
            "AZUREML_LOG_DEPRECATION_WARNING_ENABLED": "False",
        }

    # -- routing -----------------------------------------------------------------------------------------------
    def knows(self, host: str) -> bool:
        host = host.lower()
        if host in self._routers:
            return True
        if host == TELEMETRY_HOST:
            return self.accept_telemetry
        return scoring.serves(self, host) or scoring_v2.serves(self, host)

    def _refused(self, host: str, method: str, target: str) -> None:
        with self.lock:
            self.requests.append(RequestRecord(host, method, target.split("?")[0], target, 0, 0.0))

    def dispatch(self, request: Request) -> Response | None:
        started = time.perf_counter()
        fault = self._take_fault(request)
        response: Response | None
        if fault is not None and fault.kind == "reset":
            response = None
        elif fault is not None and fault.kind not in ("operation_failed", "operation_hangs", "run_failed"):
            response = self._fault_response(request, fault)
        else:
            request.fault = fault
            try:
                response = self._route(request)
            except Exception as exc:  # a bug in a fake must show up as a 500, not a hung client
                response = error_response(500, "EmulatorError", f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
        elapsed = time.perf_counter() - started
        with self.lock:
            self.handler_seconds += elapsed
            self.requests.append(RequestRecord(request.host, request.method, request.path, request.target,
                                               -1 if response is None else response.status, elapsed))
        return response

    def _route(self, request: Request) -> Response:
        host = request.host.lower()
        if host == TELEMETRY_HOST:
            count = max(1, request.body.count(b"\n") + 1)
            return json_response({"itemsReceived": count, "itemsAccepted": count, "errors": []})
        routers = self._routers.get(host)
        if routers is None:
            return self._scoring_v2(request) if scoring_v2.serves(self, host) else self._scoring(request)
        for router in routers:
            response = router.dispatch(request)
            if response is not None:
                return response
        envelope = "pipelines" if "/pipelines/" in request.path else "arm"
        return error_response(404, "RouteNotFound",
                              f"The emulator has no route for {request.method} {request.path}", envelope=envelope)

    # -- faults ------------------------------------------------------------------------------------------------
    def fail(self, method: str, path_regex: str, kind: str | int, times: int = 1, *, host: str | None = None,
             **options: Any) -> Fault:
        """Script the next ``times`` requests matching ``method`` and ``path_regex`` (searched in path+query)."""
        if isinstance(kind, int):
            options.setdefault("status", kind)
            kind = _STATUS_KINDS[kind]
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {sorted(FAULT_KINDS)}")
        fault = Fault(method.upper(), re.compile(path_regex), kind, times, options, host)
        with self.lock:
            self._faults.append(fault)
        return fault

    def _take_fault(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.remaining <= 0 or fault.method not in ("*", request.method):
                    continue
                if fault.host is not None and fault.host != request.host:
                    continue
                if fault.pattern.search(request.target) or fault.pattern.search(request.path):
                    fault.remaining -= 1
                    fault.delivered += 1
                    return fault
        return None

    @staticmethod
    def _fault_response(request: Request, fault: Fault) -> Response:
        envelope = "pipelines" if "/pipelines/" in request.path else "arm"
        if fault.kind == "throttle":
            retry_after = str(fault.options.get("retry_after", 1))
            return error_response(429, "TooManyRequests", "Rate limit exceeded, retry later.", envelope=envelope,
                                  headers={"Retry-After": retry_after, "x-ms-ratelimit-remaining": "0"})
        if fault.kind == "conflict":
            return error_response(409, "Conflict", fault.options.get(
                "message", "Another operation is in progress on this resource; retry once it finishes."),
                envelope=envelope)
        status = int(fault.options.get("status", 503))
        codes = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        return error_response(status, codes.get(status, "ServiceError"),
                              fault.options.get("message", "The service is temporarily unavailable."),
                              envelope=envelope)

    # -- log ---------------------------------------------------------------------------------------------------
    def hosts(self) -> set[str]:
        with self.lock:
            return {record.host for record in self.requests}

    def count(self, *, host: str | None = None, method: str | None = None, path_regex: str | None = None) -> int:
        with self.lock:
            records = list(self.requests)
        return sum(1 for r in records if (host is None or r.host == host) and (method is None or r.method == method)
                   and (path_regex is None or re.search(path_regex, r.target)))

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()
            self.handler_seconds = 0.0

    def azure_hosts(self) -> set[str]:
        """The hosts a workspace's SDK traffic may legitimately reach (scoring hosts excluded)."""
        return {login.HOST, arm.HOST, self.api_host, self.blob_host}

    # -- seeding -----------------------------------------------------------------------------------------------
    def create_aks_compute(self, name: str = "aks-prod", **properties: Any) -> dict[str, Any]:
        return workspace_api.add_compute(self, name, "AKS", properties)

    def create_aml_compute(self, name: str = "cpu-cluster", **properties: Any) -> dict[str, Any]:
        return workspace_api.add_compute(self, name, "AmlCompute", properties)

    def seed_pipeline_run(self, experiment: str = "training") -> str:
        """A finished pipeline run with a (trivial) graph, to publish from; returns the run id."""
        return pipelines.seed_pipeline_run(self, experiment)

    def script_scoring(self, service_name: str, *, reply: Any = None, status: int = 200) -> None:
        """Make a deployed service's scoring URI answer ``reply`` (JSON) with ``status``."""
        with self.lock:
            self.state.scoring[service_name] = {"reply": reply, "status": status}

    def issued_tokens(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [t for t in self.state.tokens if method is None or t["method"] == method]

    def bearer_ok(self, request: Request) -> bool:
        auth = request.header("authorization")
        if not auth.lower().startswith("bearer "):
            return False
        token = auth[7:].strip()
        with self.lock:
            return any(t["access_token"] == token for t in self.state.tokens)

    def unauthorized(self) -> Response:
        challenge = (f'Bearer authorization_uri="https://login.microsoftonline.com/{self.tenant_id}", '
                     'error="invalid_token"')
        return error_response(401, "InvalidAuthenticationToken", "The access token is missing or invalid.",
                              headers={"WWW-Authenticate": challenge})

