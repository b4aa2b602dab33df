"""The azureml backend: one Workspace per step, every SDK call through our retries, the verbs of the port."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_ci.backends.azure_common.base import AzureBackendBase
from mlops_ci.backends.azureml_v1 import auth as _auth
from mlops_ci.backends.azureml_v1 import sdk
from mlops_ci.backends.azureml_v1.datasets import DatasetVerbs
from mlops_ci.backends.azureml_v1.models import ModelVerbs
from mlops_ci.backends.azureml_v1.pipelines import PipelineVerbs
from mlops_ci.backends.azureml_v1.services import ServiceVerbs
from mlops_ci.errors import MlopsCiError, ServiceError

if TYPE_CHECKING:
    from mlops_ci.context import Settings
    from mlops_ci.runner import Runner

T = TypeVar("T")


def open_azureml_backend(settings: Settings, runner: Runner) -> AzureMLBackend:
    return AzureMLBackend(settings, runner)


class AzureMLBackend(AzureBackendBase, ModelVerbs, DatasetVerbs, ServiceVerbs, PipelineVerbs):

    def __init__(self, settings: Settings, runner: Runner) -> None:
        super().__init__(settings, runner)
        self._auth: Any = None
        self._workspace: Any = None
        self.started = time.monotonic()

    # -- the workspace, opened once per step ------------------------------------------------------------------
    @property
    def auth(self) -> Any:
        if self._auth is None:
            self._auth = _auth.authentication(self.credentials, self.environ, self.runner)
        return self._auth

    @property
    def workspace(self) -> Any:
        if self._workspace is None:
            auth = self.auth
            self._workspace = self.call(f"Opening workspace {self.ref.workspace_name}",
                                        lambda: _auth.open_workspace(self.credentials, self.ref, auth))
            self.runner.info(f"Azure ML workspace {self.ref.workspace_name} ({self._workspace.location}), resource "
                             f"group {self.ref.resource_group}.")
        return self._workspace

    def call(self, what: str, fn: Callable[[], T], *, deadline: float | None = None) -> T:
        """Run one SDK call with our retries (a deadline, when given, is time.monotonic() based)."""
        sdk.import_core()
        try:
            return self.retrier.call(what, lambda: self._quiet(fn), deadline=deadline)
        except MlopsCiError:
            raise
        except Exception as exc:
            # A "not found" goes back to the verb, which knows which input named it; any other refusal is Azure's.
            if sdk.http_status(exc) == 404 or "not found" in str(exc).lower():
                raise
            raise ServiceError(f"{what} failed: {sdk.error_text(exc)}",
                               fix="Read the message; re-run the job if Azure ML was having trouble.",
                               logs=self.runner.redact(sdk.response_text(exc)[:20000])) from exc

    def _quiet(self, fn: Callable[[], T]) -> T:
        # The SDK prints progress with print(); route it through the runner so that it is redacted too.
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                return fn()
        finally:
            for line in buffer.getvalue().splitlines():
                if line.strip():
                    self.runner.info(line.rstrip())

    def get_authentication_header(self) -> dict[str, str]:
        header: dict[str, str] = self.call("Getting an Azure AD token", self.auth.get_authentication_header)
        for value in header.values():
            self.runner.mask(value.removeprefix("Bearer ").strip())
        return header
