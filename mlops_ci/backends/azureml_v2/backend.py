"""The azureml backend on SDK v2: one MLClient per step, every SDK call through our retries, the verbs of the port."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_ci.backends.azure_common import http_errors as errors_of
from mlops_ci.backends.azure_common import signin
from mlops_ci.backends.azure_common.base import AzureBackendBase
from mlops_ci.backends.azureml_v2.assets import AssetVerbs
from mlops_ci.backends.azureml_v2.batch import BatchVerbs
from mlops_ci.backends.azureml_v2.endpoints import EndpointVerbs
from mlops_ci.backends.azureml_v2.pipeline_jobs import PipelineJobVerbs
from mlops_ci.errors import InputError, MlopsCiError, ServiceError

if TYPE_CHECKING:
    from mlops_ci.context import Settings
    from mlops_ci.runner import Runner

T = TypeVar("T")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ML_SCOPE = "https://ml.azure.com/.default"
# azure-core retries 429/5xx and resets up to 10 times with up to 120 s between tries, out of our sight; with its
# retries off, every retry is ours (Retry-After honoured, each wait capped and bounded by the step's deadline), and
# one request that hangs is cut off instead of waiting azure-core's 300 s default.
SDK_TRANSPORT = {"retry_total": 0, "connection_timeout": 30, "read_timeout": 120}
AUTHORITIES = {"AzureCloud": "login.microsoftonline.com", "AzureChinaCloud": "login.chinacloudapi.cn",
               "AzureUSGovernment": "login.microsoftonline.us"}


def open_azureml_backend(settings: Settings, runner: Runner) -> AzureMLV2Backend:
    return AzureMLV2Backend(settings, runner)


class AzureMLV2Backend(AzureBackendBase, AssetVerbs, EndpointVerbs, BatchVerbs, PipelineJobVerbs):
    sdk = "v2"

    def __init__(self, settings: Settings, runner: Runner) -> None:
        super().__init__(settings, runner)
        self._credential: Any = None
        self._client: Any = None
        self._location = ""
        self._step_ids: dict[str, str] = {}  # a pipeline job's step name → child job name, from its last listing

    # -- signing in and the client, once per step ---------------------------------------------------------------
    @property
    def credential(self) -> Any:
        if self._credential is None:
            if self.credentials.client_secret:
                from azure.identity import ClientSecretCredential

                self.runner.mask(self.credentials.client_secret)
                self._credential = ClientSecretCredential(
                    self.credentials.tenant_id, self.credentials.client_id, self.credentials.client_secret,
                    authority=AUTHORITIES.get(self.credentials.cloud, AUTHORITIES["AzureCloud"]))
            else:
                from mlops_ci.github.oidc import federated_credential

                self._credential = federated_credential(self.credentials, self.environ, self.runner)
        return self._credential

    @property
    def client(self) -> Any:
        if self._client is None:
            from azure.ai.ml import MLClient

            # The SDK logs progress and warnings on its own loggers; ours go through the runner.
            logging.getLogger("azure").setLevel(logging.ERROR)
            self._client = MLClient(self.credential, self.ref.subscription_id, self.ref.resource_group,
                                    self.ref.workspace_name, show_progress=False, enable_telemetry=False,
                                    cloud=self.credentials.cloud, **SDK_TRANSPORT)
            workspace = self.call(f"Opening workspace {self.ref.workspace_name}",
                                  lambda: self._client.workspaces.get(self.ref.workspace_name), what_input=True)
            self._location = workspace.location or ""
            self.runner.info(f"Azure ML workspace {self.ref.workspace_name} ({self._location}), resource group "
                             f"{self.ref.resource_group}, SDK v2.")
        return self._client

    def call(self, what: str, fn: Callable[[], T], *, deadline: float | None = None, what_input: bool = False) -> T:
        """One SDK call with our retries; a refusal becomes an error naming what failed (404s go back as they are)."""
        from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

        try:
            return self.retrier.call(what, lambda: self._quiet(fn), deadline=deadline)
        except MlopsCiError:
            raise
        except ClientAuthenticationError as exc:
            raise self._refused(exc) from exc
        except ResourceNotFoundError as exc:
            if what_input:
                raise InputError("workspace-name", f"Azure ML workspace '{self.ref.workspace_name}' was not found "
                                 f"in resource group '{self.ref.resource_group}' of subscription "
                                 f"{self.ref.subscription_id}.",
                                 fix="Check workspace-name and resource-group, and that the service principal has "
                                     "a role on the workspace.") from exc
            raise
        except Exception as exc:
            if errors_of.http_status(exc) == 404:
                raise
            raise ServiceError(f"{what} failed: {message_of(exc)}",
                               fix="Read the message; re-run the job if Azure ML was having trouble.",
                               logs=self.runner.redact(errors_of.response_text(exc)[:20000])) from exc

    def _quiet(self, fn: Callable[[], T]) -> T:
        # The SDK prints poller dots and notes with print(); route them through the runner so they are redacted.
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                return fn()
        finally:
            for line in ANSI.sub("", buffer.getvalue()).splitlines():
                if line.strip(" ."):  # the pollers' dots are no news
                    self.runner.info(line.rstrip())

    def _refused(self, exc: BaseException) -> InputError | ServiceError:
        return signin.refused(self.credentials.client_id, exc, message_of(exc))

    def wait(self, poller: Any, what: str, deadline: float) -> Any:
        """Wait for an SDK poller until the deadline; a progress line at the start and the end."""
        started = time.monotonic()
        self.runner.info(f"{what}: waiting (up to {max(0.0, deadline - started):.0f} s).")
        left = max(0.0, deadline - time.monotonic())
        # wait() first: result(timeout) on an unfinished poller deserializes an empty body instead of saying so.
        self.call(what, lambda: poller.wait(timeout=left))
        if not poller.done():
            from mlops_ci.errors import OperationTimeout

            raise OperationTimeout(f"{what} was still {poller.status()} after {time.monotonic() - started:.0f} s.",
                                   fix="Raise timeout-minutes, or read the logs below to see where it hangs.",
                                   why="Azure may still finish the operation; the endpoint's state will say.")
        result = self.call(what, poller.result)
        self.runner.info(f"{what}: {poller.status()} ({time.monotonic() - started:.1f} s).")
        return result

    def get_authentication_header(self) -> dict[str, str]:
        token = self.call("Getting a Microsoft Entra ID token", lambda: self.credential.get_token(ML_SCOPE)).token
        self.runner.mask(token)
        return {"Authorization": f"Bearer {token}"}


def message_of(exc: BaseException, limit: int = 400) -> str:
    """The service's own message of an azure-core error (its `error.message`), else the first line."""
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or getattr(exc, "message", None) or str(exc)
    for line in str(text).splitlines():
        line = line.strip()
        if line and not line.startswith(("Code:", "Message:")) or line.startswith("Message:"):
            return line.removeprefix("Message:").strip()[:limit]
    return type(exc).__name__
