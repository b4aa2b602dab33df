"""Fake Microsoft Entra ID sign-in (login.microsoftonline.com): discovery documents and the token endpoint."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING

from .http import Request, Response, Router, json_response

if TYPE_CHECKING:
    from .emulator import AzureEmulator

HOST = "login.microsoftonline.com"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def make_token(tenant: str, client_id: str, audience: str, lifetime: int = 3600) -> str:
    """An unsigned-looking JWT: the SDKs decode the claims without verifying the signature."""
    now = int(time.time())
    claims = {
        "aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "iat": now, "nbf": now, "exp": now + lifetime,
        "appid": client_id, "azp": client_id, "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)),
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)), "tid": tenant, "ver": "1.0",
        "uti": uuid.uuid4().hex, "idtyp": "app",
    }
    signature = base64.urlsafe_b64encode(uuid.uuid4().bytes * 8).rstrip(b"=").decode()
    return f"{_b64({'typ': 'JWT', 'alg': 'RS256', 'kid': 'emulator'})}.{_b64(claims)}.{signature}"


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    return json_response({
        "error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }, status)


def build(emulator: AzureEmulator) -> Router:
    router = Router()
    base = f"https://{HOST}"

    def openid(request: Request, tenant: str, v2: str | None = None) -> Response:
        prefix = f"{base}/{tenant}"
        version = "/v2.0" if v2 else ""
        return json_response({
            "token_endpoint": f"{prefix}/oauth2{version}/token",
            "authorization_endpoint": f"{prefix}/oauth2{version}/authorize",
            "device_authorization_endpoint": f"{prefix}/oauth2{version}/devicecode",
            "issuer": f"https://login.microsoftonline.com/{emulator.tenant_id}/v2.0" if v2
            else f"https://sts.windows.net/{emulator.tenant_id}/",
            "jwks_uri": f"{prefix}/discovery{version}/keys",
            "end_session_endpoint": f"{prefix}/oauth2{version}/logout",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com",
        })

    def instance_discovery(request: Request) -> Response:
        return json_response({
            "tenant_discovery_endpoint": f"{base}/{emulator.tenant_id}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": HOST, "preferred_cache": "login.windows.net",
                          "aliases": [HOST, "login.windows.net", "login.microsoft.com", "sts.windows.net"]}],
        })

    def token(request: Request, tenant: str, v2: str | None = None) -> Response:
        form = request.form()
        client_id = form.get("client_id", "")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003,
                              "The app requested an unsupported grant type.")
        if tenant not in (emulator.tenant_id, "organizations"):
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if client_id != emulator.client_id:
            return _aad_error(400, "unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory.")
        if form.get("client_assertion_type") == _ASSERTION_TYPE:
            assertion = form.get("client_assertion", "")
            expected = emulator.federated_assertion
            if not assertion or (expected is not None and assertion != expected):
                return _aad_error(401, "invalid_client", 700213,
                                  "No matching federated identity record found for presented assertion.")
            method = "client_assertion"
        elif "client_secret" in form:
            if form["client_secret"] != emulator.client_secret:
                return _aad_error(401, "invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret being sent in the request "
                                  "is the client secret value, not the client secret ID.")
            method = "client_secret"
        else:
            return _aad_error(401, "invalid_client", 7000218,
                              "The request body must contain the following parameter: 'client_assertion' or "
                              "'client_secret'.")
        scope = form.get("scope") or form.get("resource", "")
        audience = scope.split(" ")[0].removesuffix("/.default") or "https://management.core.windows.net/"
        access_token = make_token(emulator.tenant_id, client_id, audience)
        with emulator.lock:
            emulator.state.tokens.append(
                {"client_id": client_id, "method": method, "scope": scope, "access_token": access_token})
        return json_response({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                              "access_token": access_token})

    router.add("GET", r"/(?P<tenant>[^/]+)(?P<v2>/v2\.0)?/\.well-known/openid-configuration", openid)
    router.add("GET", r"/common/discovery/instance", instance_discovery)
    router.add("POST", r"/(?P<tenant>[^/]+)/oauth2(?P<v2>/v2\.0)?/token", token)
    return router
