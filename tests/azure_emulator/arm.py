"""Fake Azure Resource Manager (management.azure.com): subscriptions and the workspace resource."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http import Request, Response, Router, error_response, json_response

if TYPE_CHECKING:
    from .emulator import AzureEmulator

HOST = "management.azure.com"


def workspace_resource(emulator: AzureEmulator) -> dict[str, object]:
    scope = emulator.workspace_scope
    rg_scope = f"/subscriptions/{emulator.subscription_id}/resourceGroups/{emulator.resource_group}/providers"
    return {
        "id": scope,
        "name": emulator.workspace_name,
        "type": "Microsoft.MachineLearningServices/workspaces",
        "location": emulator.region,
        "tags": {},
        "sku": {"name": "Basic", "tier": "Basic"},
        "identity": {"type": "SystemAssigned", "principalId": emulator.workspace_id, "tenantId": emulator.tenant_id},
        "properties": {
            "workspaceId": emulator.workspace_id,
            "friendlyName": emulator.workspace_name,
            "description": "",
            "creationTime": "2024-01-01T00:00:00.0000000Z",
            "provisioningState": "Succeeded",
            "storageAccount": f"{rg_scope}/Microsoft.Storage/storageAccounts/{emulator.storage_account}",
            "keyVault": f"{rg_scope}/Microsoft.Keyvault/vaults/kv{emulator.storage_account}",
            "applicationInsights": f"{rg_scope}/Microsoft.insights/components/ai{emulator.storage_account}",
            "containerRegistry": f"{rg_scope}/Microsoft.ContainerRegistry/registries/cr{emulator.storage_account}",
            "discoveryUrl": f"https://{emulator.api_host}/discovery",
            "hbiWorkspace": False,
            "allowPublicAccessWhenBehindVnet": False,
            "v1LegacyMode": False,
            "mlFlowTrackingUri": f"azureml://{emulator.api_host}/mlflow/v1.0{scope}",
        },
    }


def build(emulator: AzureEmulator) -> Router:
    router = Router()

    def subscription_record() -> dict[str, object]:
        return {
            "id": f"/subscriptions/{emulator.subscription_id}", "subscriptionId": emulator.subscription_id,
            "tenantId": emulator.tenant_id, "displayName": "Emulated subscription", "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"},
            "authorizationSource": "RoleBased",
        }

    def subscriptions(request: Request) -> Response:
        return json_response({"value": [subscription_record()], "count": {"type": "Total", "value": 1}})

    def subscription(request: Request, sub: str) -> Response:
        if sub != emulator.subscription_id:
            return error_response(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return json_response(subscription_record())

    def workspace(request: Request, sub: str, rg: str, name: str) -> Response:
        if sub != emulator.subscription_id:
            return error_response(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if rg.lower() != emulator.resource_group.lower():
            return error_response(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        if name.lower() != emulator.workspace_name.lower():
            return error_response(
                404, "ResourceNotFound",
                f"The Resource 'Microsoft.MachineLearningServices/workspaces/{name}' under resource group "
                f"'{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
        return json_response(workspace_resource(emulator))

    def workspaces(request: Request, sub: str, rg: str | None = None) -> Response:
        found = sub == emulator.subscription_id and (rg is None or rg.lower() == emulator.resource_group.lower())
        return json_response({"value": [workspace_resource(emulator)] if found else []})

    ws = r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.MachineLearningServices"
    router.add("GET", r"/subscriptions", subscriptions)
    router.add("GET", r"/subscriptions/(?P<sub>[^/]+)", subscription)
    router.add("GET", ws + r"/workspaces/(?P<name>[^/]+)", workspace)
    router.add("GET", ws + r"/workspaces", workspaces)
    router.add("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.MachineLearningServices/workspaces",
               workspaces)
    return router
