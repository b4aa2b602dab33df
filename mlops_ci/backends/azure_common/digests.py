"""The content digest both SDKs tag versions with, so that v1 and v2 reuse each other's model and data versions."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from mlops_ci.content import Digest, digest_of
from mlops_ci.domain import DatasetRegistration
from mlops_ci.tabular import columns_of

SHA_TAG = "mlops-ci.sha256"


class DatasetContent(NamedTuple):
    sha256: str
    files: tuple[str, ...]
    size: int
    columns: tuple[str, ...]
    digest: Digest | None  # None for a URL reference


def dataset_content(request: DatasetRegistration) -> DatasetContent:
    """What versions a dataset: its local content (and header), or its type and URL when it is a reference."""
    if request.path is None:
        return DatasetContent(hashlib.sha256(f"{request.dataset_type}\n{request.url}".encode()).hexdigest(),
                              (), 0, (), None)
    digest = digest_of("dataset-path", request.path)
    columns: tuple[str, ...] = ()
    if request.dataset_type == "tabular":
        columns = columns_of("dataset-path", [(e.path, e.source) for e in digest.entries])
    return DatasetContent(digest.sha256, tuple(e.path for e in digest.entries), digest.size, columns, digest)
