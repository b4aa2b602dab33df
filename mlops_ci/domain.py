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
