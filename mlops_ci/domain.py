"""Backend-neutral requests and results that tasks hand to a backend and get back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
