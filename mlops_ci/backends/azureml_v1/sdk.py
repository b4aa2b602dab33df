"""Importing azureml once, with its own retries turned down so that ours decide (the HTTP facts of its errors are
read by mlops_ci.backends.azure_common.http_errors, re-exported here for the v1 modules)."""

from __future__ import annotations

from types import ModuleType

from mlops_ci.backends.azure_common.http_errors import (  # noqa: F401 - the v1 modules read them as sdk.*
    error_text,
    http_status,
    is_connection_problem,
    response_text,
    retry_after,
)

# The SDK's ClientBase retries 429 after 32, 64 and 128 s and ignores Retry-After; these bases make its own
# layers fail over to ours quickly (module globals read at call time, so they apply whoever imported azureml).
SDK_RETRY_SETTINGS = {
    "DEFAULT_RETRIES": 0,
    "DEFAULT_BACKOFF": 1,
    "DEFAULT_500_BACKOFF": 1,
    "DEFAULT_503_BACKOFF": 1,
    "DEFAULT_SHORT_BACKOFF": 0,
}


def import_core() -> ModuleType:
    """azureml.core, with the SDK's own retry bases turned down."""
    import azureml.core
    from azureml._restclient import clientbase

    for name, value in SDK_RETRY_SETTINGS.items():
        setattr(clientbase, name, value)
    return azureml.core
