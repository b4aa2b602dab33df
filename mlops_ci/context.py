"""The settings common to every task, the GitHub run it belongs to, and what a task hands back."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_ci.credentials import (
    AzureCredentials,
    WorkspaceRef,
    credentials_given,
    parse_credentials,
    parse_workspace,
)
from mlops_ci.errors import InputError
from mlops_ci.github.event import GithubEvent
from mlops_ci.inputs import Inputs
from mlops_ci.runner import Runner

if TYPE_CHECKING:
    from mlops_ci.backends import Backend

BACKEND_NAMES = ("local", "azureml")
AZUREML_SDKS = ("v1", "v2")


@dataclass(frozen=True)
class Settings:
    backend: str
    workspace_dir: Path
    credentials: AzureCredentials | None = field(default=None, repr=False)
    workspace: WorkspaceRef | None = None
    github: GithubEvent = field(default_factory=GithubEvent)
    azureml_sdk: str = "v1"  # which adapter backs `azureml`: SDK v1 (azureml-core) or v2 (azure-ai-ml)
    # The step's environment (OIDC request URL, tuning variables): backends read it here, never os.environ.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # time.monotonic() by which the step must be done: timeout-minutes from the start, for every wait of the step.
    deadline: float | None = None

    @classmethod
    def from_inputs(cls, inputs: Inputs, runner: Runner, environ: Mapping[str, str]) -> Settings:
        deadline = time.monotonic() + inputs.number("timeout-minutes", minimum=0.001) * 60
        credentials = parse_credentials(inputs, runner)
        workspace = parse_workspace(inputs, credentials)
        backend = inputs.raw("backend")
        workspace_dir = Path(inputs.raw("workspace-dir")).expanduser()
        if not workspace_dir.is_absolute():
            workspace_dir = inputs.base_dir / workspace_dir
        if backend == "":
            backend = "azureml" if credentials_given(inputs) else "local"
            if backend == "local":
                runner.notice(
                    f"No Azure credentials were given, so the embedded local workspace in '{inputs.raw('workspace-dir')}'"
                    " is used. Set 'backend: local' to say so, or give azure-credentials to use Azure ML.",
                    title="mlops-ci backend",
                )
        elif backend not in BACKEND_NAMES:
            raise InputError("backend", f"Input 'backend' is '{backend[:40]}', which is not a backend.",
                             fix="Use local or azureml (or leave it empty to choose by the credentials given).")
        if backend == "azureml":
            if credentials is None:
                raise InputError("azure-credentials", "Input 'azure-credentials' is empty, and the azureml backend needs Azure credentials.",
                                 fix="Set azure-credentials (the JSON of `az ad sp create-for-rbac --json-auth`) or "
                                     "client-id, tenant-id and subscription-id.")
            if workspace is None:
                raise InputError("workspace-name", "Input 'workspace-name' is empty, and the azureml backend needs a workspace.",
                                 fix="Set workspace-name and resource-group, or workspace-config.")
        elif credentials is not None:
            runner.warning("Azure credentials were given but 'backend' is local: they are not used.",
                           title="mlops-ci backend")
        sdk = inputs.choice("azureml-sdk", AZUREML_SDKS)
        if sdk != "v1" and backend != "azureml":
            runner.warning(f"Input 'azureml-sdk' is {sdk}, but the backend is {backend}: it is not used.",
                           title="mlops-ci backend")
        return cls(backend=backend, workspace_dir=workspace_dir, credentials=credentials, workspace=workspace,
                   github=GithubEvent.from_environ(environ), environ=environ, azureml_sdk=sdk,
                   deadline=deadline)


@dataclass
class Context:
    """What a task runs with: its settings, the runner to talk through, and the backend, opened on first use."""

    settings: Settings
    runner: Runner
    environ: Mapping[str, str]
    started: float = field(default_factory=time.monotonic)
    _backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from mlops_ci.backends import open_backend

            self._backend = open_backend(self.settings, self.runner)
        return self._backend


@dataclass
class TaskResult:
    """A task's outputs (in action.yml order), what it did in Markdown, and links worth showing."""

    outputs: dict[str, str]
    done: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)
    details: str = ""
