"""Detached helper processes of the local workspace (pipeline engine, workspace server): started, reaped, checked."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

# Variables a step or server must never inherit from the workflow step that started it: the task's own inputs
# (credentials among them), GitHub's tokens, and the runner files the task writes its outputs to.
PRIVATE_PREFIXES = ("INPUT_", "ACTIONS_")
PRIVATE_NAMES = frozenset({"GITHUB_TOKEN", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH",
                           "GITHUB_STATE"})


def child_environ(environ: Mapping[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not k.startswith(PRIVATE_PREFIXES) and k not in PRIVATE_NAMES}
    env.update(extra)
    return env


def spawn_detached(argv: Sequence[str], *, log_path: Path, env: Mapping[str, str],
                   cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so it outlives the step and is stopped as a group), output to a log.

    A daemon thread reaps it, so no zombie and no 'still running' warning is left behind in a long-lived parent."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=dict(env), cwd=cwd, close_fds=True)
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after its closing parenthesis.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def alive(pid: int | None, started: str = "") -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if Path(f"/proc/{pid}/stat").exists():
        now = start_time(pid)
        if started and now and now != started:
            return False  # the pid was reused by another process
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()[0] == "Z":
                return False  # exited, not yet reaped by its parent
    return True


def stop_group(pid: int, started: str = "", *, grace: float = 10.0) -> bool:
    """SIGTERM a process group, wait up to `grace` seconds, then SIGKILL it. True when it is gone."""
    if not alive(pid, started):
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid, started):
            return True
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not alive(pid, started):
            return True
        time.sleep(0.02)
    return False
