"""Local web services: the service verbs of the port, on supervisor processes that run azmlinfsrv generations."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.backends.local.auth import ServiceSecrets, mint_token
from mlops_ci.deployconfig import DeploymentConfig, InferenceConfig
from mlops_ci.domain import CandidateEndpoint, Service, ServiceKeys, ServiceSpec, ServiceToken
from mlops_ci.errors import InputError, MlopsCiError, OperationTimeout, ResourceNotFound, ServiceError
from mlops_ci.preflight import model_dir_for

if TYPE_CHECKING:
    from mlops_ci.backends.local.workspace import LocalWorkspace
    from mlops_ci.runner import Runner

SERVICES_DDL = """
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    compute_type TEXT NOT NULL,
    port INTEGER NOT NULL,
    control TEXT NOT NULL,
    supervisor_pid INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""
LOG_TAIL = 100
SNAPSHOT_LIMIT = 256 * 1024 * 1024
SNAPSHOT_SKIP = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".mlops-ci", ".pytest_cache",
                           ".mypy_cache", ".ruff_cache"})
# Variables a scoring script has no business seeing: the step's inputs (credentials) and the runner's tokens.
PRIVATE_ENV_PREFIXES = ("INPUT_", "ACTIONS_", "GITHUB_TOKEN")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalServices:
    """Mixed into LocalBackend: deploy, swap, inspect and delete scoring endpoints on 127.0.0.1."""

    workspace: LocalWorkspace
    runner: Runner

    # -- paths and state -----------------------------------------------------------------------------------
    @property
    def services_root(self) -> Path:
        return self.workspace.root.resolve() / "services"

    def _services_table(self) -> None:
        if not getattr(self, "_services_ready", False):
            self.workspace.ensure_tables(SERVICES_DDL)
            self._services_ready = True

    def _row(self, name: str) -> dict[str, Any] | None:
        self._services_table()
        with self.workspace.reading() as conn:
            row = conn.execute("SELECT * FROM services WHERE name = ?", (name,)).fetchone()
        return dict(row) if row is not None else None

    @contextlib.contextmanager
    def _service_lock(self, name: str, deadline: float) -> Iterator[None]:
        self.services_root.mkdir(parents=True, exist_ok=True)
        with open(self.services_root / f"{name}.lock", "a+b") as handle:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise OperationTimeout(f"Another operation on service '{name}' is still in progress.",
                                               fix="Wait for it to finish (Azure answers 409 in this case), then "
                                                   "run the step again.") from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _busy(self, name: str) -> bool:
        path = self.services_root / f"{name}.lock"
        if not path.exists():
            return False
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    # -- the port's verbs ----------------------------------------------------------------------------------
    def download_model(self, name: str, version: int, dest: Path) -> Path:
        return self.materialize_model(name, version, dest)  # type: ignore[attr-defined,no-any-return]

    def begin_create_or_update_service(self, spec: ServiceSpec, *,
                                       verify: Callable[[CandidateEndpoint], None] | None = None) -> LocalDeployment:
        return LocalDeployment(self, spec, verify)

    def get_service(self, name: str) -> Service:
        row = self._row(name)
        if row is None:
            known = [s.name for s in self.list_services()][:20]
            raise ResourceNotFound("service-name", f"Service '{name}' does not exist in the local workspace.",
                                   fix=("Services: " + ", ".join(known) + ".") if known else
                                   "Deploy it first with deploy-aci or promote-aks.")
        return self._service(row)

    def list_services(self) -> list[Service]:
        self._services_table()
        with self.workspace.reading() as conn:
            rows = [dict(r) for r in conn.execute("SELECT * FROM services ORDER BY name")]
        return [self._service(row) for row in rows]

    def get_service_keys(self, name: str) -> ServiceKeys:
        found = self._secrets(name)
        if found.mode != "key":
            raise InputError("service-name", f"Service '{name}' uses {found.mode} auth, so it has no keys.",
                             fix="Use a token (token auth) or no Authorization header (auth off).")
        self.runner.mask(found.primary)
        self.runner.mask(found.secondary)
        return ServiceKeys(primary=found.primary, secondary=found.secondary)

    def get_service_token(self, name: str) -> ServiceToken:
        found = self._secrets(name)
        if found.mode != "token":
            raise InputError("service-name", f"Service '{name}' does not use token auth.",
                             fix="Tokens are for AKS services deployed with tokenAuthEnabled: true; use the keys.")
        token, refresh = mint_token(found, name)
        self.runner.mask(token)
        return ServiceToken(token=token, refresh_after=refresh)

    def get_service_logs(self, name: str, *, tail: int | None = None) -> str:
        self.get_service(name)
        folder = self._current_or_latest(self.services_root / name)
        if folder is None:
            return ""
        log = folder / "server.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        if tail is not None:
            text = "\n".join(text.splitlines()[-tail:])
        return text

    def delete_service(self, name: str, *, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._service_lock(name, deadline):
            row = self._row(name)
            folder = self.services_root / name
            if row is None and not folder.exists():
                return False
            if row is not None:
                self._stop_supervisor(row, folder, deadline)
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(folder)
            with self.workspace.transaction() as conn:
                conn.execute("DELETE FROM services WHERE name = ?", (name,))
        with contextlib.suppress(FileNotFoundError):
            (self.services_root / f"{name}.lock").unlink()
        return row is not None

    # -- reading a service ---------------------------------------------------------------------------------
    def _service(self, row: dict[str, Any]) -> Service:
        folder = self.services_root / row["name"]
        current = _current_generation(folder)
        gen_folder = self._current_or_latest(folder)
        meta = _read_json(gen_folder / "meta.json") if gen_folder else {}
        if self._busy(row["name"]):
            state = "Transitioning"
        elif current is None:
            state = "Failed"
        elif self._ping(row["control"]):
            state = "Healthy"
        else:
            state = "Unhealthy"  # the supervisor is gone (the machine or container restarted)
        deployment = DeploymentConfig.from_dict(meta["deployment"]) if meta.get("deployment") else None
        base = f"http://127.0.0.1:{row['port']}"
        return Service(
            name=row["name"], compute_type=row["compute_type"], state=state, scoring_uri=f"{base}/score",
            swagger_uri=f"{base}/swagger.json", model_ids=tuple(meta.get("model_ids", ())),
            auth_mode=deployment.auth_mode if deployment else "key",
            replicas=deployment.replicas if deployment else 1,
            created_at=row["created_at"], updated_at=row["updated_at"],
            inference=InferenceConfig.from_dict(meta["inference"]) if meta.get("inference") else None,
            deployment=deployment,
        )

    def _current_or_latest(self, folder: Path) -> Path | None:
        current = _current_generation(folder)
        if current is not None:
            return folder / f"gen-{current}"
        generations = _generations(folder)
        return folder / f"gen-{generations[-1]}" if generations else None

    def _secrets(self, name: str) -> ServiceSecrets:
        self.get_service(name)
        folder = self._current_or_latest(self.services_root / name)
        if folder is None or not (folder / "secrets.json").exists():
            raise ServiceError(f"Service '{name}' has no running version, so it has no credentials.",
                               fix="Deploy it again.")
        return ServiceSecrets.load(folder / "secrets.json")

    # -- the supervisor ------------------------------------------------------------------------------------
    def _control(self, address: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(max(timeout, 0.5))
            conn.connect("\0" + address)
            conn.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        if not data:
            raise ServiceError("The local service supervisor closed the connection without answering.",
                               fix="Deploy the service again.")
        reply: dict[str, Any] = json.loads(data)
        return reply

    def _ping(self, address: str) -> bool:
        try:
            return bool(self._control(address, {"op": "ping"}, 2.0).get("ok"))
        except (OSError, ValueError, ServiceError):
            return False

    def _start_supervisor(self, name: str, folder: Path, port: int, deadline: float) -> tuple[int, str, int]:
        """Bind the public socket (keeping the old port when free), start the supervisor; (port, address, pid)."""
        public = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        public.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            public.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or port == 0:
                public.close()
                raise ServiceError(f"Service '{name}' cannot listen on 127.0.0.1: {exc.strerror}.",
                                   fix="Free a local port and deploy again.") from exc
            public.bind(("127.0.0.1", 0))
        public.listen(2048)
        address = f"mlops-ci-{secrets.token_hex(12)}"
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        control.bind("\0" + address)
        control.listen(16)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with open(folder / "supervisor.log", "ab") as log:
                launcher = subprocess.Popen(
                    [sys.executable, "-m", "mlops_ci.backends.local.supervisor", str(folder),
                     str(public.fileno()), str(control.fileno())],
                    pass_fds=(public.fileno(), control.fileno()), stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, env=service_environ(), start_new_session=True, cwd=folder,
                )
                launcher.wait(timeout=max(deadline - time.monotonic(), 1.0))
            bound_port = int(public.getsockname()[1])
        finally:
            public.close()
            control.close()
        started = time.monotonic()
        while True:
            try:
                reply = self._control(address, {"op": "ping"}, 1.0)
                return bound_port, address, int(reply["pid"])
            except (OSError, ValueError):
                pid_file = folder / "supervisor.pid"
                gone = pid_file.exists() and not _is_supervisor(int(pid_file.read_text() or 0), folder)
                if gone or time.monotonic() >= deadline or (time.monotonic() - started > 10 and not pid_file.exists()):
                    log = (folder / "supervisor.log").read_text(encoding="utf-8", errors="replace")
                    raise ServiceError(f"The supervisor of service '{name}' did not start.",
                                       fix="Read its log below.", logs=log[-20000:]) from None
                time.sleep(0.02)

    def _stop_supervisor(self, row: dict[str, Any], folder: Path, deadline: float) -> None:
        with contextlib.suppress(OSError, ValueError, ServiceError):
            self._control(row["control"], {"op": "shutdown"}, max(deadline - time.monotonic(), 1.0))
        pid = int(row.get("supervisor_pid") or 0)
        while pid and _is_supervisor(pid, folder):
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # its servers get SIGTERM through PR_SET_PDEATHSIG
                break
            time.sleep(0.02)
        for gen in _generations(folder):
            for ready in (folder / f"gen-{gen}" / "ready").glob("*"):
                if ready.name.isdigit() and _is_process(int(ready.name), "mlops_ci.backends.local.serve"):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(ready.name), signal.SIGKILL)


class LocalDeployment:
    """The poller of begin_create_or_update_service: the work runs inside result(timeout), bounded by it."""

    def __init__(self, services: LocalServices, spec: ServiceSpec,
                 verify: Callable[[CandidateEndpoint], None] | None) -> None:
        self.services = services
        self.spec = spec
        self.verify = verify
        self._status = "NotStarted"
        self._result: Service | None = None

    def done(self) -> bool:
        return self._status in ("Succeeded", "Failed")

    def status(self) -> str:
        return self._status

    def result(self, timeout: float) -> Service:
        if self._result is not None:
            return self._result
        self._status = "Running"
        try:
            self._result = self._deploy(time.monotonic() + timeout)
        except BaseException:
            self._status = "Failed"
            raise
        self._status = "Succeeded"
        return self._result

    def _deploy(self, deadline: float) -> Service:
        svc, spec = self.services, self.spec
        name = spec.name
        folder = svc.services_root / name
        with svc._service_lock(name, deadline):
            row = svc._row(name)
            alive = row is not None and svc._ping(row["control"])
            previous = _current_generation(folder) if alive else None
            if row is not None and not alive:
                svc._stop_supervisor(row, folder, deadline)  # a stale one: kill what may be left
            if not alive:
                port, address, pid = svc._start_supervisor(name, folder, int(row["port"]) if row else 0, deadline)
                with svc.workspace.transaction() as conn:
                    conn.execute(
                        "INSERT INTO services (name, compute_type, port, control, supervisor_pid, created_at,"
                        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                        " compute_type = excluded.compute_type, port = excluded.port, control = excluded.control,"
                        " supervisor_pid = excluded.supervisor_pid, updated_at = excluded.updated_at",
                        (name, spec.deployment.compute_type, port, address, pid, now(), now()))
                row = svc._row(name)
                assert row is not None
            generations = _generations(folder)
            number = (generations[-1] if generations else 0) + 1
            gen_folder = folder / f"gen-{number}"
            started = False
            try:
                self._prepare(gen_folder, row, previous)
                reply = svc._control(row["control"], {"op": "start", "generation": number,
                                                      "folder": str(gen_folder), "workers": spec.deployment.replicas},
                                     _left(deadline))
                if not reply.get("ok"):
                    raise ServiceError(f"Service '{name}' could not start: {reply.get('error')}.",
                                       fix="Read the service's logs.")
                started = True
                self._wait_ready(row, number, gen_folder, deadline)
                secrets_ = ServiceSecrets.load(gen_folder / "secrets.json")
                if self.verify is not None:
                    base = f"http://127.0.0.1:{reply['private_port']}"
                    self.verify(CandidateEndpoint(f"{base}/score", f"{base}/swagger.json",
                                                  _auth_headers(secrets_, name)))
                promoted = svc._control(row["control"], {"op": "promote", "generation": number}, _left(deadline) + 40)
                if not promoted.get("ok"):
                    raise ServiceError(f"Traffic could not move to the new version of '{name}': "
                                       f"{promoted.get('error')}.", fix="Read the service's logs.")
            except BaseException as exc:
                if started:
                    with contextlib.suppress(Exception):
                        svc._control(row["control"], {"op": "discard", "generation": number}, 45)
                    tail = _log_tail(gen_folder / "server.log")
                    if isinstance(exc, MlopsCiError) and tail and tail not in exc.logs:
                        exc.logs = (exc.logs + "\n\n" if exc.logs else "") + \
                            f"Server log of the new version (last {LOG_TAIL} lines):\n{tail}"
                (gen_folder / "failed").parent.mkdir(parents=True, exist_ok=True)
                (gen_folder / "failed").write_text(now(), encoding="utf-8")
                if previous is None:
                    # Nothing was serving before: stop the supervisor so no process is left behind.
                    svc._stop_supervisor(row, folder, time.monotonic() + 45)
                raise
            for old in _generations(folder):
                if old != number:
                    shutil.rmtree(folder / f"gen-{old}", ignore_errors=True)
            with svc.workspace.transaction() as conn:
                conn.execute("UPDATE services SET updated_at = ?, compute_type = ? WHERE name = ?",
                             (now(), spec.deployment.compute_type, name))
        return svc.get_service(name)

    def _prepare(self, gen_folder: Path, row: dict[str, Any], previous: int | None) -> None:
        svc, spec = self.services, self.spec
        gen_folder.mkdir(parents=True)
        (gen_folder / "ready").mkdir()
        models_root = gen_folder / "models"
        for model in spec.models:
            svc.download_model(model.name, model.version, models_root)
        models_root.mkdir(exist_ok=True)
        app = gen_folder / "app"
        _snapshot(spec.inference.source_directory, app, skip_root=svc.workspace.root)
        model_dir = model_dir_for(models_root, [(m.name, m.version) for m in spec.models])
        # Keys stay the same across versions unless the deployment config gives new ones or changes the auth mode.
        old = svc.services_root / spec.name / f"gen-{previous}" / "secrets.json"
        deployment = spec.deployment
        if previous is not None and old.exists() and not deployment.primary_key \
                and ServiceSecrets.load(old).mode == deployment.auth_mode:
            secrets_ = ServiceSecrets.load(old)
        else:
            secrets_ = ServiceSecrets.create(deployment.auth_mode, deployment.primary_key, deployment.secondary_key)
        secrets_.save(gen_folder / "secrets.json")
        for value in (secrets_.primary, secrets_.secondary):
            svc.runner.mask(value)
        inference = InferenceConfig(
            entry_script=spec.inference.entry_script, source_directory=app,
            environment_name=spec.inference.environment_name,
            environment_variables=dict(spec.inference.environment_variables),
            pip_packages=spec.inference.pip_packages, conda_packages=spec.inference.conda_packages)
        config = {
            "service": spec.name, "entry_script": str(app / spec.inference.entry_script), "app_root": str(app),
            "model_dir": str(model_dir), "workers": deployment.replicas, "public_port": row["port"],
            "gate": str(gen_folder / "live"), "ready_dir": str(gen_folder / "ready"),
            "secrets": str(gen_folder / "secrets.json"), "environment": dict(spec.inference.environment_variables),
            "scoring_timeout_ms": deployment.scoring_timeout_ms,
        }
        (gen_folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        meta = {"model_ids": [m.id for m in spec.models], "inference": inference.to_dict(),
                "deployment": deployment.to_dict(), "created_at": now()}
        (gen_folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    def _wait_ready(self, row: dict[str, Any], number: int, gen_folder: Path, deadline: float) -> None:
        svc, name = self.services, self.spec.name
        reply = svc._control(row["control"], {"op": "wait_ready", "generation": number, "timeout": _left(deadline)},
                             _left(deadline) + 5)
        if reply.get("ok"):
            return
        logs = _log_tail(gen_folder / "server.log")
        if reply.get("timeout"):
            raise OperationTimeout(f"Service '{name}' did not become ready before the deadline.",
                                   why="init() is still running in at least one worker.",
                                   fix="Make init() faster or raise 'timeout-minutes'.", logs=logs)
        raise ServiceError(f"Service '{name}' failed to start: its inference server exited with status "
                           f"{reply.get('exit_code', reply.get('error'))}.",
                           why="A worker stopped while loading score.py or running init() (status 3 is the "
                               "inference server's own 'init failed').",
                           fix="Read the server log below; the preflight runs the same init() before this.",
                           logs=logs)


def _log_tail(path: Path) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL:])


def _auth_headers(found: ServiceSecrets, name: str) -> dict[str, str]:
    if found.mode == "key":
        return {"Authorization": f"Bearer {found.primary}"}
    if found.mode == "token":
        return {"Authorization": f"Bearer {mint_token(found, name)[0]}"}
    return {}


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)


def service_environ() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(PRIVATE_ENV_PREFIXES)}
    environ["PYTHONUNBUFFERED"] = "1"
    return environ


def _generations(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(p.name[4:]) for p in folder.glob("gen-*") if p.name[4:].isdigit())


def _current_generation(folder: Path) -> int | None:
    try:
        text = (folder / "current").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and (folder / f"gen-{text}").is_dir() else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_process(pid: int, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            zombie = handle.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False
    return not zombie and marker.encode() in cmdline


def _is_supervisor(pid: int, folder: Path) -> bool:
    return _is_process(pid, "mlops_ci.backends.local.supervisor") and _is_process(pid, str(folder))


@dataclass
class _Size:
    total: int = 0


def _snapshot(source: Path, dest: Path, *, skip_root: Path) -> None:
    """Copy the source directory as Azure snapshots it, without VCS folders, caches or our own workspace."""
    size = _Size()
    skip = skip_root.resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        ignored = {n for n in names if n in SNAPSHOT_SKIP or Path(folder, n).resolve() == skip}
        for n in names:
            if n not in ignored and os.path.isfile(os.path.join(folder, n)):
                size.total += os.path.getsize(os.path.join(folder, n))
        if size.total > SNAPSHOT_LIMIT:
            raise InputError("inference-config", f"The sourceDirectory '{source}' holds more than "
                             f"{SNAPSHOT_LIMIT // (1024 * 1024)} MB.",
                             fix="Point sourceDirectory at a folder with just the scoring code; models are "
                                 "registered separately.")
        return ignored

    shutil.copytree(source, dest, ignore=ignore, symlinks=True)
