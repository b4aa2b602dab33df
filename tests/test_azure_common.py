"""The helpers both Azure ML backends share import neither SDK, and each backend imports only its own SDK."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = ("import importlib, sys\n"
         "importlib.import_module(sys.argv[1])\n"
         "names = ('azureml', 'azure.ai.ml', 'mlops_ci.backends.azureml_v1', 'mlops_ci.backends.azureml_v2')\n"
         "print(sorted({n for n in names if any(m == n or m.startswith(n + '.') for m in sys.modules)}))\n")


@pytest.mark.parametrize(("module", "loaded"), [
    ("mlops_ci.backends.azure_common.retry", "[]"),
    ("mlops_ci.backends.azure_common.http_errors", "[]"),
    ("mlops_ci.backends.azure_common.digests", "[]"),
    ("mlops_ci.backends.azure_common.signin", "[]"),
    # Each backend imports its SDK at first use, and never the other backend's package.
    ("mlops_ci.backends.azureml_v2.backend", "['mlops_ci.backends.azureml_v2']"),
    ("mlops_ci.backends.azureml_v1.backend", "['mlops_ci.backends.azureml_v1']"),
], ids=["retry", "http-errors", "digests", "signin", "v2-backend", "v1-backend"])
def test_importing_imports_no_sdk(module: str, loaded: str) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == loaded


def test_the_backends_share_one_retry_and_one_digest() -> None:
    from mlops_ci.backends.azure_common import base, digests
    from mlops_ci.backends.azureml_v1 import backend as v1
    from mlops_ci.backends.azureml_v1 import models as v1_models
    from mlops_ci.backends.azureml_v2 import assets as v2_assets
    from mlops_ci.backends.azureml_v2 import backend as v2

    assert issubclass(v1.AzureMLBackend, base.AzureBackendBase) and issubclass(v2.AzureMLV2Backend, base.AzureBackendBase)
    assert v1_models.digest_of is v2_assets.digest_of is digests.digest_of
    assert v1_models.SHA_TAG == v2_assets.SHA_TAG == "mlops-ci.sha256"
