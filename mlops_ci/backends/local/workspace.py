"""The local workspace directory: an SQLite database (WAL, transactions) and a content-addressed object store."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from mlops_ci.content import CHUNK, FileEntry
from mlops_ci.errors import ServiceError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 120_000

# Each entry upgrades the schema by one version; modules that own tables add theirs with ensure_tables().
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS models (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        layout TEXT NOT NULL,
        size INTEGER NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '{}',
        properties TEXT NOT NULL DEFAULT '{}',
        framework TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE IF NOT EXISTS datasets (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        dataset_type TEXT NOT NULL,
        sha256 TEXT NOT NULL DEFAULT '',
        url TEXT NOT NULL DEFAULT '',
        layout TEXT NOT NULL DEFAULT '[]',
        columns TEXT NOT NULL DEFAULT '[]',
        size INTEGER NOT NULL DEFAULT 0,
        description TEXT NOT NULL DEFAULT '',
        tags TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    """,
)


class ObjectStore:
    """Immutable files named by their sha256: objects/ab/cdef…; written to tmp/ first, renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root / "objects"
        self.tmp = root / "tmp"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def add(self, entry: FileEntry, *, check: Callable[[], None] | None = None) -> None:
        """Copy a file whose sha256 is already known into the store, unless it is there."""
        final = self.path(entry.sha256)
        if final.is_file():
            return
        self.tmp.mkdir(parents=True, exist_ok=True)
        temp = self.tmp / f"{os.getpid()}-{os.urandom(6).hex()}"
        try:
            with open(entry.source, "rb") as src, open(temp, "xb") as dst:
                _copy(src.fileno(), dst.fileno(), entry.size)
                os.fsync(dst.fileno())
            if check is not None:
                check()
            os.chmod(temp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
            _fsync_dir(final.parent)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()

    def add_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        final = self.path(sha)
        if not final.is_file():
            self.tmp.mkdir(parents=True, exist_ok=True)
            temp = self.tmp / f"{os.getpid()}-{os.urandom(6).hex()}"
            temp.write_bytes(data)
            os.chmod(temp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
        return sha

    def sweep_tmp(self) -> None:
        """Remove temporary files left by processes that were killed mid-copy."""
        if not self.tmp.is_dir():
            return
        for leftover in self.tmp.iterdir():
            pid = leftover.name.partition("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def materialize(self, layout: list[tuple[str, str, int]], dest: Path) -> None:
        """Lay files out under dest as hard links to the (read-only) objects, or copies across filesystems."""
        for relpath, sha, _size in layout:
            target = dest / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                continue
            try:
                os.link(self.path(sha), target)
            except OSError:
                import shutil

                shutil.copyfile(self.path(sha), target)


def _copy(src: int, dst: int, size: int) -> None:
    # The kernel copies (copy_file_range: no trip through Python, a reflink where the filesystem has them).
    remaining = size
    try:
        while remaining > 0:
            copied = os.copy_file_range(src, dst, min(remaining, 1 << 30))
            if copied == 0:
                break
            remaining -= copied
        if remaining == 0:
            return
    except OSError:
        pass
    os.lseek(src, size - remaining, os.SEEK_SET)
    while chunk := os.read(src, CHUNK):
        os.write(dst, chunk)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalWorkspace:
    """One workspace directory. Connections are cheap; every write happens inside `transaction()`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = ObjectStore(root)
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ServiceError(f"The local workspace folder '{root}' cannot be created: {exc.strerror}.",
                               fix="Set 'workspace-dir' to a folder you can write to.") from exc
        self.db_path = root / "workspace.db"
        self._migrate()
        self.objects.sweep_tmp()

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def transaction(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the write lock from its first statement (BEGIN IMMEDIATE).

        With `conn`, the transaction runs on that (kept-open) connection and leaves it open.
        """
        own = conn is None
        conn = self.connect() if conn is None else conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if own:
                conn.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    def ensure_tables(self, ddl: str) -> None:
        """Create the tables a module owns (idempotent `CREATE TABLE IF NOT EXISTS` statements)."""
        with self.transaction() as conn:
            for statement in ddl.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def _migrate(self) -> None:
        # Read first: an up-to-date workspace must not wait for another process's write lock just to open.
        with self.reading() as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return
        with self.transaction() as conn:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise ServiceError(f"The local workspace '{self.root}' was written by a newer mlops-ci "
                                   f"(schema {current}).", fix="Upgrade mlops-ci, or use another workspace-dir.")
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if current != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
