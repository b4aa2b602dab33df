"""What both Azure ML adapters hold for one step: the credentials, the workspace, and the retrier bounded by the step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_ci.backends.azure_common.retry import Retrier, RetryPolicy
from mlops_ci.errors import InputError

if TYPE_CHECKING:
    from mlops_ci.context import Settings
    from mlops_ci.runner import Runner


class AzureBackendBase:
    name = "azureml"

    def __init__(self, settings: Settings, runner: Runner) -> None:
        if settings.credentials is None or settings.workspace is None:
            raise InputError("azure-credentials", "The azureml backend needs Azure credentials and a workspace.",
                             fix="Set azure-credentials and workspace-name with resource-group.")
        self.settings = settings
        self.credentials = settings.credentials
        self.ref = settings.workspace
        self.runner = runner
        self.environ = settings.environ
        self.policy = RetryPolicy.from_environ(self.environ)
        self.retrier = Retrier(runner, self.policy, step_deadline=settings.deadline)
