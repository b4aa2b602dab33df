"""The per-service supervisor: owns the public socket, starts and stops generations, swaps traffic between them.

It runs detached (its own session) until delete-service, and answers one JSON request per connection on an abstract
Unix socket whose peers must be the same user. It never imports Flask or score.py: it stays small and steady.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 35.0  # gunicorn's graceful timeout (30 s) plus a margin: in-flight requests finish


@dataclass
class Generation:
    number: int
    folder: Path
    workers: int
    proc: subprocess.Popen[bytes]
    private: socket.socket

    @property
    def private_port(self) -> int:
        return int(self.private.getsockname()[1])

    def ready_pids(self) -> list[int]:
        pids = []
        for entry in (self.folder / "ready").iterdir():
            if entry.name.isdigit() and _alive(int(entry.name)):
                pids.append(int(entry.name))
        return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


class Supervisor:
    def __init__(self, folder: Path, public: socket.socket, control: socket.socket) -> None:
        self.folder = folder
        self.public = public
        self.control = control
        self.generations: dict[int, Generation] = {}
        self.current: int | None = None
        self.running = True
        self._libc = ctypes.CDLL(None, use_errno=True)

    # -- the loop -----------------------------------------------------------------------------------------------
    def serve(self) -> None:
        self.control.settimeout(1.0)
        while self.running:
            try:
                conn, _ = self.control.accept()
            except TimeoutError:
                self._reap()
                continue
            except InterruptedError:
                continue
            with conn:
                conn.settimeout(10.0)  # a client that connects and says nothing must not block the service
                if not self._same_user(conn):
                    continue
                try:
                    request = json.loads(_read_line(conn))
                    reply = self.handle(request)
                except Exception as exc:  # noqa: BLE001 - one bad request must not stop the service
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(reply).encode() + b"\n")
            self._reap()
        self.stop_all()

    def _same_user(self, conn: socket.socket) -> bool:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        return uid == os.getuid()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            return {"ok": False, "error": f"unknown operation {op!r}"}
        result: dict[str, Any] = handler(request)
        return result

    # -- operations ---------------------------------------------------------------------------------------------
    def op_ping(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid()}

    def op_status(self, request: dict[str, Any]) -> dict[str, Any]:
        gens = {str(n): {"pid": g.proc.pid, "alive": g.proc.poll() is None, "ready": len(g.ready_pids()),
                         "workers": g.workers} for n, g in self.generations.items()}
        return {"ok": True, "current": self.current, "generations": gens}

    def op_start(self, request: dict[str, Any]) -> dict[str, Any]:
        number = int(request["generation"])
        folder = Path(request["folder"])
        (folder / "ready").mkdir(parents=True, exist_ok=True)
        private = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        private.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        private.bind(("127.0.0.1", 0))
        private.listen(128)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        with open(folder / "server.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mlops_ci.backends.local.serve", str(folder / "config.json"),
                 str(self.public.fileno()), str(private.fileno())],
                pass_fds=(self.public.fileno(), private.fileno()), cwd=config["app_root"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=_child_environ(),
                preexec_fn=self._die_with_me,  # noqa: PLW1509 - this process has no threads
            )
        self.generations[number] = Generation(number, folder, int(request["workers"]), proc, private)
        return {"ok": True, "pid": proc.pid, "private_port": self.generations[number].private_port}

    def op_wait_ready(self, request: dict[str, Any]) -> dict[str, Any]:
        gen = self.generations[int(request["generation"])]
        deadline = time.monotonic() + float(request["timeout"])
        while True:
            code = gen.proc.poll()
            if code is not None:
                return {"ok": False, "exit_code": code}
            if len(gen.ready_pids()) >= gen.workers:
                return {"ok": True}
            if time.monotonic() >= deadline:
                return {"ok": False, "timeout": True}
            time.sleep(0.02)

    def op_promote(self, request: dict[str, Any]) -> dict[str, Any]:
        number = int(request["generation"])
        gen = self.generations[number]
        if gen.proc.poll() is not None:
            return {"ok": False, "error": "the new generation stopped before traffic could move to it"}
        (gen.folder / "live").write_text("live", encoding="utf-8")
        for pid in gen.ready_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGWINCH)
        # Connections that arrive meanwhile wait in the shared socket's backlog: none is refused or lost.
        old = [n for n in self.generations if n != number]
        for n in old:
            self._stop(n)
        self.current = number
        _write_atomic(self.folder / "current", str(number))
        return {"ok": True, "stopped": old}

    def op_discard(self, request: dict[str, Any]) -> dict[str, Any]:
        number = int(request["generation"])
        if number in self.generations and number != self.current:
            self._stop(number)
        return {"ok": True}

    def op_shutdown(self, request: dict[str, Any]) -> dict[str, Any]:
        self.running = False
        self.stop_all()
        return {"ok": True}

    # -- helpers ------------------------------------------------------------------------------------------------
    def _die_with_me(self) -> None:
        # If the supervisor is killed outright, its servers get SIGTERM instead of running on unsupervised.
        self._libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def _stop(self, number: int) -> None:
        gen = self.generations.pop(number, None)
        if gen is None:
            return
        if gen.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                gen.proc.send_signal(signal.SIGTERM)  # gunicorn: graceful, in-flight requests finish
            try:
                gen.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    gen.proc.kill()
                gen.proc.wait(timeout=5)
        # Workers whose master was SIGKILLed would notice the parent change on their own; do not wait for it.
        for pid in gen.ready_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        gen.private.close()
        if self.current == number:
            self.current = None

    def stop_all(self) -> None:
        for number in list(self.generations):
            self._stop(number)

    def _reap(self) -> None:
        for gen in self.generations.values():
            gen.proc.poll()


def _child_environ() -> dict[str, str]:
    return dict(os.environ)


def _read_line(conn: socket.socket, limit: int = 1 << 20) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            raise ValueError("request too long")
    return data


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def main(argv: list[str]) -> int:
    folder, public_fd, control_fd = Path(argv[0]).resolve(), int(argv[1]), int(argv[2])
    public = socket.socket(fileno=public_fd)
    control = socket.socket(fileno=control_fd)
    # Detach for good: the command that started us returns, we are adopted by init (or the container's PID 1).
    if os.fork() > 0:
        os._exit(0)
    (folder / "supervisor.pid").write_text(str(os.getpid()), encoding="utf-8")
    supervisor = Supervisor(folder, public, control)

    def stop(signum: int, frame: object) -> None:
        supervisor.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        supervisor.serve()
    finally:
        with contextlib.suppress(FileNotFoundError):
            (folder / "supervisor.pid").unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
