"""GitHub OIDC sign-in: the workflow's ID token, exchanged for Azure tokens through a federated credential."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlops_ci.errors import InputError, ServiceError
from mlops_ci.runner import Runner

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken

    from mlops_ci.credentials import AzureCredentials

DEFAULT_AUDIENCE = "api://AzureADTokenExchange"
ISSUER = "https://token.actions.githubusercontent.com"
PERMISSIONS_YAML = "permissions:\n  id-token: write\n  contents: read"
# azureml-core and azure-identity name clouds alike; each has its own sign-in host.
AUTHORITY_HOSTS: dict[str, str] = {
    "AzureCloud": "login.microsoftonline.com",
    "AzureChinaCloud": "login.chinacloudapi.cn",
    "AzureUSGovernment": "login.microsoftonline.us",
}
TIMEOUT_SECONDS = 10.0
ATTEMPTS = 3


def _missing_permission(environ: Mapping[str, str]) -> InputError:
    if environ.get("GITHUB_ACTIONS") != "true":
        return InputError("client-secret", "Signing in without client-secret needs GitHub OIDC, which exists only "
                          "inside a GitHub Actions job.",
                          fix="Give client-secret (or azure-credentials) when running outside GitHub Actions.")
    return InputError(
        "client-secret",
        "Signing in with GitHub OIDC (no client-secret was given) needs the job permission `id-token: write`, "
        "which this job does not have.",
        fix=f"Add this to the job (or the workflow), then run it again:\n\n```yaml\n{PERMISSIONS_YAML}\n```",
        why="GitHub gives a job an OIDC token only when the workflow grants `id-token: write`; without it the "
            "ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN variables are not set.",
    )


def check_available(environ: Mapping[str, str]) -> None:
    """Raise the input error with the YAML to add when the job cannot get an OIDC token."""
    if not environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") or not environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        raise _missing_permission(environ)


def request_id_token(environ: Mapping[str, str], runner: Runner, audience: str = DEFAULT_AUDIENCE) -> str:
    """The workflow's OIDC ID token for `audience`, masked before anything can print it."""
    import requests

    check_available(environ)
    url = environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    bearer = environ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    runner.mask(bearer)
    # The runner's URL already carries `?api-version=…`; GitHub's toolkit appends the audience the same way.
    target = f"{url}{'&' if '?' in url else '?'}audience={quote(audience, safe='')}"
    headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/json; api-version=2.0"}
    problem = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(0.5 * attempt)
        try:
            response = requests.get(target, headers=headers, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            problem = f"could not be reached ({type(exc).__name__})"
            continue
        if response.status_code >= 500:
            problem = f"answered {response.status_code}"
            continue
        if response.status_code != 200:
            raise ServiceError(f"GitHub's OIDC token service answered {response.status_code} when asked for a token "
                               f"with audience '{audience}'.",
                               fix="Check that the job has `id-token: write`; re-run the job if its token expired.",
                               logs=runner.redact(response.text[:2000]))
        try:
            token = response.json()["value"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise ServiceError("GitHub's OIDC token service answered without a token.",
                               fix="Re-run the job; if it persists, GitHub's status page may show an incident.")
        runner.mask(token)
        return token
    raise ServiceError(f"GitHub's OIDC token service {problem} after {ATTEMPTS} attempts.",
                       fix="Re-run the job; if it persists, GitHub's status page may show an incident.")


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified: only to explain a refusal (subject, audience), never to trust them."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class GithubAssertion:
    """The callable ClientAssertionCredential asks for an assertion: a fresh GitHub ID token each time."""

    def __init__(self, environ: Mapping[str, str], runner: Runner, audience: str = DEFAULT_AUDIENCE) -> None:
        self.environ = environ
        self.runner = runner
        self.audience = audience
        self.claims: dict[str, Any] = {}

    def __call__(self) -> str:
        token = request_id_token(self.environ, self.runner, self.audience)
        self.claims = token_claims(token)
        return token


class FederatedCredential:
    """An azure-core TokenCredential: azure-identity's ClientAssertionCredential fed with GitHub's ID token.

    A refused exchange becomes an InputError that names the token's subject and audience, the two values the
    federated credential in Microsoft Entra ID must match.
    """

    def __init__(self, credentials: AzureCredentials, environ: Mapping[str, str], runner: Runner,
                 audience: str = DEFAULT_AUDIENCE) -> None:
        from azure.identity import ClientAssertionCredential

        check_available(environ)
        self.client_id = credentials.client_id
        self.tenant_id = credentials.tenant_id
        self.assertion = GithubAssertion(environ, runner, audience)
        self.credential = ClientAssertionCredential(
            credentials.tenant_id, credentials.client_id, self.assertion,
            authority=AUTHORITY_HOSTS.get(credentials.cloud, AUTHORITY_HOSTS["AzureCloud"]))

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self.credential.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            raise self._refused(exc) from exc

    def close(self) -> None:
        self.credential.close()

    def __enter__(self) -> FederatedCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _refused(self, exc: Exception) -> InputError:
        text = str(getattr(exc, "message", "") or exc)
        code = re.search(r"AADSTS\d+[^\r\n]*", text)
        said = code.group(0)[:300] if code else text.splitlines()[0][:300] if text else type(exc).__name__
        subject = self.assertion.claims.get("sub", "?")
        audience = self.assertion.claims.get("aud", self.assertion.audience)
        return InputError(
            "client-id",
            f"Microsoft Entra ID refused the GitHub OIDC token of this job for client-id '{self.client_id}' ({said}).",
            fix=(f"Add a federated credential to that app registration with issuer {ISSUER}, subject '{subject}' and "
                 f"audience '{audience}' (or set the audience input to the credential's audience)."),
            why="A federated credential matches the token's issuer, subject and audience exactly; the subject "
                "depends on the event and on the job's environment.",
        )


def federated_credential(credentials: AzureCredentials, environ: Mapping[str, str], runner: Runner,
                         audience: str | None = None) -> FederatedCredential:
    """The credential a backend uses when no client secret was given (AzureCredentials.uses_oidc)."""
    return FederatedCredential(credentials, environ, runner, audience or credentials.audience or DEFAULT_AUDIENCE)
