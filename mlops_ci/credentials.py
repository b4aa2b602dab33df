"""Azure credentials and the workspace reference, parsed and validated; secrets masked the moment they are read."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from mlops_ci.errors import InputError
from mlops_ci.inputs import Inputs
from mlops_ci.runner import Runner

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TENANT = re.compile(r"^([0-9a-fA-F-]{36}|[A-Za-z0-9.-]+\.[A-Za-z]{2,})$")

# resourceManagerEndpointUrl → the Azure cloud it selects (the names azureml-core and azure-identity use).
CLOUDS: dict[str, str] = {
    "https://management.azure.com/": "AzureCloud",
    "https://management.chinacloudapi.cn/": "AzureChinaCloud",
    "https://management.usgovcloudapi.net/": "AzureUSGovernment",
}
JSON_FIELDS = ("clientId", "clientSecret", "tenantId", "subscriptionId")
SPLIT_INPUTS = ("client-id", "tenant-id", "subscription-id", "client-secret")


@dataclass(frozen=True)
class AzureCredentials:
    client_id: str
    tenant_id: str
    subscription_id: str
    client_secret: str | None = field(default=None, repr=False)
    cloud: str = "AzureCloud"
    resource_manager_endpoint: str = "https://management.azure.com/"
    # The audience of the GitHub OIDC token exchanged when there is no secret (the `audience` input).
    audience: str = "api://AzureADTokenExchange"

    @property
    def uses_oidc(self) -> bool:
        return not self.client_secret


@dataclass(frozen=True)
class WorkspaceRef:
    subscription_id: str
    resource_group: str
    workspace_name: str


def credentials_given(inputs: Inputs) -> bool:
    return inputs.given("azure-credentials") or any(inputs.given(name) for name in SPLIT_INPUTS)


def parse_credentials(inputs: Inputs, runner: Runner) -> AzureCredentials | None:
    """The service principal from `azure-credentials` JSON or the split inputs; None when neither is given."""
    blob = inputs.raw("azure-credentials")
    split_given = [name for name in SPLIT_INPUTS if inputs.given(name)]
    if blob and split_given:
        raise InputError("azure-credentials", f"Both 'azure-credentials' and '{split_given[0]}' are set.",
                         fix="Give either the azure-credentials JSON or the split client-id, tenant-id and "
                             "subscription-id inputs, not both.")
    if blob:
        return _from_json(blob, runner)
    if split_given:
        return _from_split(inputs, runner)
    return None


def _from_json(blob: str, runner: Runner) -> AzureCredentials:
    name = "azure-credentials"
    runner.mask(blob)
    try:
        data = json.loads(blob)
    except ValueError as exc:
        where = f"line {getattr(exc, 'lineno', '?')}, column {getattr(exc, 'colno', '?')}"
        raise InputError(name, f"Input 'azure-credentials' is not valid JSON ({where}).",
                         fix="Paste the whole JSON printed by `az ad sp create-for-rbac --json-auth` into the secret.") from None
    if not isinstance(data, dict):
        raise InputError(name, "Input 'azure-credentials' must be a JSON object.",
                         fix="Paste the whole JSON printed by `az ad sp create-for-rbac --json-auth` into the secret.")
    secret = data.get("clientSecret")
    if isinstance(secret, str):
        runner.mask(secret)
    for key in JSON_FIELDS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InputError(name, f"Input 'azure-credentials' has no '{key}' field.",
                             fix=f"Add '{key}': the JSON of `az ad sp create-for-rbac --json-auth` has it.")
    _check_ids(name, data["clientId"], data["tenantId"], data["subscriptionId"], prefix="field ")
    endpoint = data.get("resourceManagerEndpointUrl") or "https://management.azure.com/"
    if not isinstance(endpoint, str):
        raise InputError(name, "Input 'azure-credentials' field 'resourceManagerEndpointUrl' must be a URL.",
                         fix="Remove it for the public cloud, or use the URL your cloud's CLI prints.")
    cloud = _cloud(name, endpoint)
    return AzureCredentials(
        client_id=data["clientId"].strip(),
        tenant_id=data["tenantId"].strip(),
        subscription_id=data["subscriptionId"].strip(),
        client_secret=secret.strip(),
        cloud=cloud,
        resource_manager_endpoint=_normalise(endpoint),
    )


def _from_split(inputs: Inputs, runner: Runner) -> AzureCredentials:
    secret = inputs.raw("client-secret")
    runner.mask(secret)
    for name in ("client-id", "tenant-id", "subscription-id"):
        if not inputs.given(name):
            raise InputError(name, f"Input '{name}' is required with the split credential inputs.",
                             fix="Set client-id, tenant-id and subscription-id together (client-secret is optional: "
                                 "without it GitHub OIDC is used).")
    client_id, tenant_id, subscription_id = (inputs.raw(n) for n in ("client-id", "tenant-id", "subscription-id"))
    _check_ids(None, client_id, tenant_id, subscription_id, prefix="")
    return AzureCredentials(client_id=client_id, tenant_id=tenant_id, subscription_id=subscription_id,
                            client_secret=secret or None, audience=inputs.raw("audience"))


def _check_ids(name: str | None, client_id: str, tenant_id: str, subscription_id: str, *, prefix: str) -> None:
    checks = (("clientId", "client-id", client_id, GUID), ("tenantId", "tenant-id", tenant_id, TENANT),
              ("subscriptionId", "subscription-id", subscription_id, GUID))
    for json_key, input_name, value, pattern in checks:
        if not pattern.match(value.strip()):
            target = name or input_name
            label = f"Input 'azure-credentials' field '{json_key}'" if name else f"Input '{input_name}'"
            raise InputError(target, f"{label} is not a GUID.",
                             fix="Copy the id from the service principal's JSON or the Azure portal.")


def _normalise(url: str) -> str:
    return url.strip().rstrip("/") + "/"


def _cloud(name: str, endpoint: str) -> str:
    cloud = CLOUDS.get(_normalise(endpoint).lower())
    if cloud is None:
        raise InputError(name, "Input 'azure-credentials' field 'resourceManagerEndpointUrl' names an unknown cloud.",
                         fix="Use one of: " + ", ".join(CLOUDS) + ".")
    return cloud


def parse_workspace(inputs: Inputs, credentials: AzureCredentials | None) -> WorkspaceRef | None:
    """The Azure ML workspace from workspace-name + resource-group, or from a Studio config.json."""
    config_given = inputs.given("workspace-config")
    split = [n for n in ("workspace-name", "resource-group") if inputs.given(n)]
    if config_given and split:
        raise InputError("workspace-config", f"Both 'workspace-config' and '{split[0]}' are set.",
                         fix="Give either workspace-config or workspace-name with resource-group, not both.")
    if config_given:
        data = inputs.json_file("workspace-config")
        if not isinstance(data, dict):
            raise InputError("workspace-config", "Input 'workspace-config' must name a JSON object.",
                             fix="Use the config.json downloaded from Azure ML Studio.")
        values = {}
        for key in ("subscription_id", "resource_group", "workspace_name"):
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise InputError("workspace-config", f"Input 'workspace-config' has no '{key}' field.",
                                 fix="Use the config.json downloaded from Azure ML Studio: it has subscription_id, "
                                     "resource_group and workspace_name.")
            values[key] = value.strip()
        if not GUID.match(values["subscription_id"]):
            raise InputError("workspace-config", "Input 'workspace-config' field 'subscription_id' is not a GUID.",
                             fix="Use the config.json downloaded from Azure ML Studio.")
        return WorkspaceRef(values["subscription_id"], values["resource_group"], values["workspace_name"])
    if split:
        for name in ("workspace-name", "resource-group"):
            if not inputs.given(name):
                raise InputError(name, f"Input '{name}' is required with '{split[0]}'.",
                                 fix="Set workspace-name and resource-group together, or workspace-config.")
        if credentials is None:
            return WorkspaceRef("", inputs.raw("resource-group"), inputs.raw("workspace-name"))
        return WorkspaceRef(credentials.subscription_id, inputs.raw("resource-group"), inputs.raw("workspace-name"))
    return None
