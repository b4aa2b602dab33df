"""Microsoft Entra ID refusals (AADSTS codes) turned into an error naming the input that is wrong."""

from __future__ import annotations

import re

from mlops_ci.errors import InputError, ServiceError

# AADSTS codes that mean one input is wrong, and which input.
AADSTS_INPUTS = {
    "7000215": ("client-secret", "the client secret is not valid (or has expired)"),
    "7000222": ("client-secret", "the client secret has expired"),
    "700016": ("client-id", "no application with this client id exists in the tenant"),
    "90002": ("tenant-id", "the tenant does not exist"),
    "900023": ("tenant-id", "the tenant id is not valid"),
}
FIELDS = {"client-secret": "clientSecret", "client-id": "clientId", "tenant-id": "tenantId"}


def refused(client_id: str, exc: BaseException, text: str) -> InputError | ServiceError:
    """The sign-in refusal `exc` (whose readable message is `text`) as bad input when its code names one."""
    code = re.search(r"AADSTS(\d+)", str(exc))
    if code and code.group(1) in AADSTS_INPUTS:
        name, meaning = AADSTS_INPUTS[code.group(1)]
        return InputError(name, f"Microsoft Entra ID refused to sign in service principal {client_id}: "
                          f"{meaning} (AADSTS{code.group(1)}).",
                          fix=f"Update '{name}' (or the '{FIELDS[name]}' field of azure-credentials) with the value "
                              "from the app registration.", why=text)
    return ServiceError(f"Microsoft Entra ID refused to sign in service principal {client_id}: {text}",
                        fix="Check the credentials and the app registration in Microsoft Entra ID.")
