"""Content digests of model and dataset files: the file's sha256, or for a folder the sha256 of its sorted listing."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from mlops_ci.errors import InputError, ServiceError

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative, '/'-separated, starting with the registered file's or folder's own name
    sha256: str
    size: int
    source: Path
    mtime_ns: int = 0


@dataclass(frozen=True)
class Digest:
    sha256: str
    entries: tuple[FileEntry, ...]

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)

    @property
    def layout(self) -> tuple[tuple[str, str, int], ...]:
        return tuple((e.path, e.sha256, e.size) for e in self.entries)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def listing_sha256(entries: tuple[FileEntry, ...], prefix: str) -> str:
    """sha256 of `sha256sum`-style lines of the folder's files, paths relative to the folder, sorted."""
    lines = sorted(f"{e.sha256}  {e.path[len(prefix) + 1:]}\n" for e in entries)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def files_of(input_name: str, root: Path) -> list[tuple[str, Path]]:
    """(relative path with the root's own name first, absolute path) of every regular file, sorted."""
    if root.is_file():
        return [(root.name, root)]
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            if full.is_symlink() and not full.resolve().is_relative_to(root.resolve()):
                raise InputError(input_name, f"Input '{input_name}' holds '{full.relative_to(root)}', a link that "
                                 "points outside the folder.", fix="Replace the link with the file itself.")
            if full.is_file():
                found.append((f"{root.name}/{full.relative_to(root).as_posix()}", full))
    if not found:
        raise InputError(input_name, f"Input '{input_name}' names the folder '{root.name}', which holds no files.",
                         fix="Point it at the file or the folder that holds the model's files.")
    return found


def digest_of(input_name: str, root: Path) -> Digest:
    """Hash every file once; remember each file's size and mtime so a change during the copy is caught."""
    entries = []
    for relpath, path in files_of(input_name, root):
        before = path.stat()
        entries.append(FileEntry(relpath, sha256_file(path), before.st_size, path, before.st_mtime_ns))
        after = path.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
            raise ServiceError(f"'{relpath}' changed while it was being read.",
                               fix="Register it again once nothing writes to it.")
    if root.is_file():
        return Digest(entries[0].sha256, tuple(entries))
    return Digest(listing_sha256(tuple(entries), root.name), tuple(entries))
