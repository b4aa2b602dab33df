"""The content digest both SDKs tag versions with, so that v1 and v2 reuse each other's model and data versions."""

from __future__ import annotations

from pathlib import Path

from mlops_ci.content import Digest, FileEntry, files_of, listing_sha256, sha256_file

SHA_TAG = "mlops-ci.sha256"


def digest_of(input_name: str, root: Path) -> Digest:
    entries = []
    for relpath, path in files_of(input_name, root):
        stat = path.stat()
        entries.append(FileEntry(relpath, sha256_file(path), stat.st_size, path, stat.st_mtime_ns))
    if root.is_file():
        return Digest(entries[0].sha256, tuple(entries))
    return Digest(listing_sha256(tuple(entries), root.name), tuple(entries))
