"""Signing in: a service principal secret, or GitHub OIDC through a federated credential; refusals made clear."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.azure_common import signin
from mlops_ci.backends.azureml_v1 import sdk
from mlops_ci.errors import InputError, ServiceError
from mlops_ci.runner import Runner

if TYPE_CHECKING:
    from mlops_ci.credentials import AzureCredentials, WorkspaceRef

def authentication(credentials: AzureCredentials, environ: Mapping[str, str], runner: Runner) -> Any:
    """An azureml-core authentication object for these credentials."""
    sdk.import_core()
    if credentials.client_secret:
        from azureml.core.authentication import ServicePrincipalAuthentication

        runner.mask(credentials.client_secret)
        return ServicePrincipalAuthentication(credentials.tenant_id, credentials.client_id,
                                              credentials.client_secret, cloud=credentials.cloud)
    from mlops_ci.github.oidc import federated_credential

    return federated_authentication(federated_credential(credentials, environ, runner), credentials.cloud)


def federated_authentication(credential: Any, cloud: str) -> Any:
    """Wrap an azure-core TokenCredential (GitHub OIDC → ClientAssertionCredential) for azureml-core."""
    from azureml._vendor.azure_cli_core.auth.util import resource_to_scopes
    from azureml.core.authentication import TokenAuthentication

    class FederatedAuthentication(TokenAuthentication):  # type: ignore[misc]
        """azureml-core asks for tokens by audience (ARM or Azure ML); azure-identity answers by scope."""

        def __init__(self) -> None:
            super().__init__(self._token_for, cloud=cloud)

        @staticmethod
        def _token_for(resource: str) -> str:
            return str(credential.get_token(*resource_to_scopes(resource)).token)

    return FederatedAuthentication()


def open_workspace(credentials: AzureCredentials, ref: WorkspaceRef, auth: Any) -> Any:
    """The Workspace (GET subscriptions + GET workspace), or an error naming the input that is wrong."""
    from azureml._vendor.azure_cli_core.azclierror import AuthenticationError
    from azureml.core import Workspace
    from azureml.exceptions import ProjectSystemException, UserErrorException

    try:
        return Workspace(ref.subscription_id, ref.resource_group, ref.workspace_name, auth=auth)
    except AuthenticationError as exc:
        raise refused(credentials, exc) from exc
    except (ProjectSystemException, UserErrorException) as exc:
        text = sdk.error_text(exc)
        lowered = str(exc).lower()
        if "workspace not found" in lowered or "resourcenotfound" in lowered:
            raise InputError("workspace-name", f"Azure ML workspace '{ref.workspace_name}' was not found in resource "
                             f"group '{ref.resource_group}' of subscription {ref.subscription_id}.",
                             fix="Check workspace-name and resource-group (or workspace-config), and that the service "
                                 "principal has a role on the workspace.") from exc
        if "resourcegroupnotfound" in lowered or "resource group" in lowered and "not found" in lowered:
            raise InputError("resource-group", f"Resource group '{ref.resource_group}' was not found in "
                             f"subscription {ref.subscription_id}.", fix="Check resource-group.") from exc
        if "subscription" in lowered and ("not found" in lowered or "could not be found" in lowered):
            raise InputError("subscription-id", f"Subscription {ref.subscription_id} is not visible to the service "
                             "principal.", fix="Check subscription-id, and give the service principal a role in "
                             "that subscription.") from exc
        raise ServiceError(f"Azure ML could not open workspace '{ref.workspace_name}': {text}",
                           fix="Check the workspace inputs and the service principal's role.") from exc


def refused(credentials: AzureCredentials, exc: BaseException) -> MlopsCiErrorLike:
    return signin.refused(credentials.client_id, exc, sdk.error_text(exc))


MlopsCiErrorLike = InputError | ServiceError
