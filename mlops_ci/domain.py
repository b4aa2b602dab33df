"""Backend-neutral requests and results that tasks hand to a backend and get back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlops_ci.deployconfig import DeploymentConfig, InferenceConfig


@dataclass(frozen=True)
class ModelRegistration:
    path: Path
    name: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    framework: str = ""
    force_new_version: bool = False


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: int
    sha256: str
    reused: bool
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    framework: str = ""
    created_at: str = ""
    files: tuple[str, ...] = ()
    size: int = 0

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class DatasetRegistration:
    name: str
    dataset_type: str  # "tabular" or "file"
    path: Path | None = None  # a local file or folder
    url: str = ""  # or a reference, never downloaded
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegisteredDataset:
    name: str
    version: int
    dataset_type: str
    reused: bool
    sha256: str = ""
    url: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    files: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    size: int = 0

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"


# -- pipelines ------------------------------------------------------------------------------------------------
# Run and step statuses, as Azure ML's run history reports them.
NOT_STARTED, RUNNING, COMPLETED, FAILED, CANCELED = "NotStarted", "Running", "Completed", "Failed", "Canceled"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELED})


@dataclass(frozen=True)
class PublishedPipeline:
    id: str
    name: str
    version: str
    endpoint: str  # the REST URL that triggers this very pipeline
    description: str = ""
    created_at: str = ""
    endpoint_name: str = ""  # set when published under a pipeline endpoint
    endpoint_url: str = ""  # the endpoint's URL, which submits its default version
    steps: tuple[str, ...] = ()
    edges: tuple[tuple[str, str, str], ...] = ()  # (from step, to step, pipeline data)
    parameters: dict[str, str] = field(default_factory=dict)  # name → default, as text


@dataclass(frozen=True)
class StepRun:
    id: str
    name: str
    status: str
    started_at: str = ""
    finished_at: str = ""
    duration_seconds: float | None = None
    reused_from: str = ""  # the step run whose outputs were reused (allow_reuse), or empty
    exit_code: int | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelineRun:
    id: str
    pipeline_id: str
    experiment_name: str
    status: str
    url: str = ""
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    steps: tuple[StepRun, ...] = ()
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


# -- web services (deploy-aci, promote-aks, smoke-test, get-logs, delete-service) ---------------------------------
@dataclass(frozen=True)
class ServiceSpec:
    """What to deploy: models, the inference configuration (score.py and its folder) and the deployment config."""

    name: str
    models: tuple[RegisteredModel, ...]
    inference: InferenceConfig
    deployment: DeploymentConfig
    instance_type: str = ""  # SDK v2 online deployments: the VM size or Kubernetes instance type; empty: chosen
    # The input that named deployment.compute_target_name (aks-cluster or deployment-config): errors name it.
    cluster_input: str = "aks-cluster"


@dataclass(frozen=True)
class Service:
    name: str
    compute_type: str  # ACI or AKS
    state: str  # Healthy, Unhealthy, Transitioning or Failed, as Azure names a web service's state
    scoring_uri: str
    swagger_uri: str
    model_ids: tuple[str, ...] = ()
    auth_mode: str = "key"  # key, token or none
    replicas: int = 1
    created_at: str = ""
    updated_at: str = ""
    inference: InferenceConfig | None = None
    deployment: DeploymentConfig | None = None
    # What the request asked for that the backend could not apply, one sentence each (shown in the summary).
    not_applied: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceKeys:
    primary: str = field(repr=False)
    secondary: str = field(repr=False)


@dataclass(frozen=True)
class ServiceToken:
    token: str = field(repr=False)
    refresh_after: float = 0.0  # epoch seconds, as Webservice.get_token() returns it


@dataclass(frozen=True)
class CandidateEndpoint:
    """A new service version, reachable before traffic moves to it (locally) or just after (on Azure)."""

    scoring_uri: str
    swagger_uri: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # the Authorization header, when auth is on


class Poller(Protocol):
    """A long operation: `result(timeout)` waits for it and returns the service, or raises."""

    def done(self) -> bool: ...

    def status(self) -> str: ...

    def result(self, timeout: float) -> Service: ...
