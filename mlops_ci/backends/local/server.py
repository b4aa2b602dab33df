"""The local workspace server: a loopback HTTP server with the published-pipeline endpoints of Azure ML's contract."""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import http.client
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.errors import InputError, ServiceError

if TYPE_CHECKING:
    from mlops_ci.backends.local.backend import LocalBackend
    from mlops_ci.runner import Runner

HOST = "127.0.0.1"
# The workspace part of Azure's pipelines routes ({WS} in /pipelines/v1.0{WS}/...), with local placeholders.
PREFIX = ("/pipelines/v1.0/subscriptions/local/resourceGroups/local/providers/Microsoft.MachineLearningServices"
          "/workspaces/local")
START_TIMEOUT_SECONDS = 20.0
MAX_BODY_BYTES = 1024 * 1024
ROUTES = {
    ("POST", re.compile(re.escape(PREFIX) + r"/PipelineRuns/PipelineSubmit/([0-9a-fA-F-]{36})")): "submit_pipeline",
    ("POST", re.compile(re.escape(PREFIX) + r"/PipelineRuns/PipelineEndpointSubmit/Id/([0-9a-fA-F-]{36})")):
        "submit_endpoint",
    ("GET", re.compile(re.escape(PREFIX) + r"/PipelineRuns/([0-9a-fA-F-]{36})")): "get_run",
    ("GET", re.compile(re.escape(PREFIX) + r"/Pipelines/([0-9a-fA-F-]{36})")): "get_pipeline",
}


# -- files in the workspace ---------------------------------------------------------------------------------------
def server_dir(root: Path) -> Path:
    path = root / "server"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def read_or_create_token(root: Path) -> str:
    """The workspace's bearer token, created on first use in a file only its owner can read."""
    path = server_dir(root) / "token"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ServiceError(f"The workspace token file '{path}' can be read by other users (mode {mode:o}).",
                               fix=f"Run `chmod 600 {path}`, or delete it to get a new token.") from None
        token = path.read_text(encoding="ascii").strip()
        if len(token) < 32:
            raise ServiceError(f"The workspace token file '{path}' is damaged.",
                               fix="Delete it; a new token is made on the next use.") from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
    return token


def _state_path(root: Path) -> Path:
    return server_dir(root) / "state.json"


def read_state(root: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(_state_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and {"pid", "port", "instance"} <= state.keys() else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temp, path)


def last_port(root: Path) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int((server_dir(root) / "port").read_text(encoding="ascii"))
    return 0


def base_url(root: Path) -> str:
    """The server's address: the running one's, else the port it last had (where it comes back when restarted)."""
    state = read_state(root)
    port = state["port"] if state else last_port(root)
    return f"http://{HOST}:{port}" if port else f"http://{HOST}:0"


def pipeline_url(base: str, pipeline_id: str) -> str:
    return f"{base}{PREFIX}/PipelineRuns/PipelineSubmit/{pipeline_id}"


def endpoint_url(base: str, endpoint_id: str) -> str:
    return f"{base}{PREFIX}/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint_id}"


def run_url(base: str, run_id: str) -> str:
    return f"{base}{PREFIX}/PipelineRuns/{run_id}"


# -- starting, finding and stopping the server ---------------------------------------------------------------------
def healthy(state: dict[str, Any], timeout: float = 2.0) -> bool:
    """True when the process at the state's port is this workspace's server (not a stranger on a reused port)."""
    conn = http.client.HTTPConnection(HOST, int(state["port"]), timeout=timeout)
    try:
        conn.request("GET", "/health")
        reply = conn.getresponse()
        body = json.loads(reply.read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return reply.status == 200 and isinstance(body, dict) and body.get("instance") == state["instance"]


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    with open(server_dir(root) / "lock", "a", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, or when the holder dies
        yield


def running(root: Path) -> dict[str, Any] | None:
    from mlops_ci.backends.local import processes

    state = read_state(root)
    if state and processes.alive(state["pid"], state.get("pid_start", "")) and healthy(state):
        return state
    return None


def ensure_running(root: Path, runner: Runner) -> str:
    """The server's base URL; started in the background (detached) when it is not running. Stale files are ignored."""
    from mlops_ci.backends.local import processes

    read_or_create_token(root)
    with _lock(root):
        state = running(root)
        if state:
            return f"http://{HOST}:{state['port']}"
        with contextlib.suppress(FileNotFoundError):
            _state_path(root).unlink()  # a stale file from a server that was killed
        log_path = server_dir(root) / "server.log"
        argv = [sys.executable, "-m", "mlops_ci", "serve", "--workspace-dir", str(root)]
        proc = processes.spawn_detached(argv, log_path=log_path, env=processes.child_environ(os.environ))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            state = read_state(root)
            if state and state["pid"] == proc.pid and healthy(state):
                runner.info(f"Started the local workspace server at http://{HOST}:{state['port']} "
                            f"(pid {proc.pid}); stop it with `mlops-ci serve --stop --workspace-dir {root}`.")
                return f"http://{HOST}:{state['port']}"
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        processes.stop_group(proc.pid, grace=2)
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:] if log_path.exists() else ""
        raise ServiceError("The local workspace server did not start.", fix="Read its log below, or start it in the "
                           f"foreground with `mlops-ci serve --workspace-dir {root}`.", logs=tail)


def stop(root: Path) -> dict[str, Any] | None:
    """Stop the workspace's server; returns the state of the server stopped, None when none was running."""
    from mlops_ci.backends.local import processes

    with _lock(root):
        state = read_state(root)
        if not state or not processes.alive(state["pid"], state.get("pid_start", "")):
            with contextlib.suppress(FileNotFoundError):
                _state_path(root).unlink()
            return None
        if not healthy(state):
            # The pid is alive but does not answer as our server: never signal a process we cannot vouch for.
            raise ServiceError(f"Process {state['pid']} in '{_state_path(root)}' does not answer as this "
                               "workspace's server.", fix=f"Check the process; delete '{_state_path(root)}' if it is "
                               "not the server.")
        if not processes.stop_group(state["pid"], state.get("pid_start", "")):
            raise ServiceError(f"The local workspace server (pid {state['pid']}) did not stop.",
                               fix=f"Stop it with `kill -9 {state['pid']}`.")
        with contextlib.suppress(FileNotFoundError):
            _state_path(root).unlink()
        return state


# -- the server itself ---------------------------------------------------------------------------------------------
class WorkspaceServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, backend: LocalBackend, token: str, instance: str) -> None:
        self.backend = backend
        self.token = token
        self.instance = instance
        super().__init__((HOST, port), Handler)


def bind(root: Path, backend: LocalBackend, *, port: int | None) -> WorkspaceServer:
    """Bind the server: to `port` when given, else to the port it had before (so URLs stay valid), else any."""
    token = read_or_create_token(root)
    instance = secrets.token_hex(8)
    wanted = last_port(root) if port is None else port
    try:
        server = WorkspaceServer(wanted, backend, token, instance)
    except OSError as exc:
        if port is not None or not wanted:
            raise ServiceError(f"The local workspace server cannot listen on {HOST}:{wanted}: {exc.strerror}.",
                               fix="Choose another port with --port.") from exc
        backend.runner.warning(f"Port {wanted}, where this workspace's server listened before, is taken: using "
                               "another one. Pipeline URLs published earlier must be read again "
                               "(publish-pipeline outputs them).")
        server = WorkspaceServer(0, backend, token, instance)
    from mlops_ci.backends.local import processes

    actual = server.server_address[1]
    (server_dir(root) / "port").write_text(str(actual), encoding="ascii")
    _write_json(_state_path(root), {"pid": os.getpid(), "pid_start": processes.start_time(os.getpid()),
                                    "port": actual, "instance": instance})
    return server


def serve_forever(root: Path, server: WorkspaceServer) -> None:
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        state = read_state(root)
        if state and state.get("instance") == server.instance:
            with contextlib.suppress(FileNotFoundError):
                _state_path(root).unlink()


class Handler(BaseHTTPRequestHandler):
    server: WorkspaceServer
    protocol_version = "HTTP/1.1"
    server_version = "mlops-ci-workspace"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    # -- replies ----------------------------------------------------------------------------------------------
    def reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def error_reply(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        # The pipelines service's error envelope.
        self.reply(status, {"Error": {"Code": code, "Message": message}}, headers)

    # -- dispatch ---------------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self.path.split("?")[0] == "/health":
            self.reply(200, {"status": "ok", "instance": self.server.instance, "pid": os.getpid()})
            return
        self.dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self.dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self.dispatch("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self.dispatch("PATCH")

    def dispatch(self, method: str) -> None:
        path = self.path.split("?")[0]
        allowed = []
        for (route_method, pattern), name in ROUTES.items():
            match = pattern.fullmatch(path)
            if match:
                if route_method != method:
                    allowed.append(route_method)
                    continue
                if not self.authorized():
                    return
                try:
                    getattr(self, name)(match.group(1))
                except InputError as exc:
                    from mlops_ci.backends.local.pipelines import PipelineNotFound

                    if isinstance(exc, PipelineNotFound):
                        self.error_reply(404, "NotFound", exc.message)
                    else:
                        self.error_reply(400, "BadRequest", _sentence(exc.message, exc.fix))
                except Exception as exc:  # noqa: BLE001 - one request's failure must not take the server down
                    self.log_error("internal error: %s: %s", type(exc).__name__, exc)
                    self.error_reply(500, "InternalError", f"The local workspace server failed: {type(exc).__name__}.")
                return
        if allowed:
            self.drain()
            self.error_reply(405, "MethodNotAllowed", f"Method Not Allowed: use {' or '.join(sorted(allowed))} here.",
                             {"Allow": ", ".join(sorted(allowed))})
            return
        self.drain()
        self.error_reply(404, "NotFound", f"No resource at {path[:200]}.")

    def drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= MAX_BODY_BYTES:
            self.rfile.read(int(length))
        elif length:
            self.close_connection = True

    def authorized(self) -> bool:
        header = self.headers.get("Authorization")
        challenge = {"WWW-Authenticate": 'Bearer realm="mlops-ci"'}
        if header is None:
            self.drain()
            self.error_reply(401, "Unauthorized", "The request has no Authorization header. Send "
                             "Authorization: Bearer <token> (`mlops-ci token` prints it).", challenge)
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.drain()
            self.error_reply(401, "Unauthorized", "Authorization header is malformed. Header should be in the form: "
                             "Authorization: Bearer <token>", challenge)
            return False
        if not hmac.compare_digest(token.strip().encode(), self.server.token.encode()):
            self.drain()
            self.error_reply(401, "Unauthorized", "The bearer token is not this workspace's token "
                             "(`mlops-ci token` prints it).", challenge)
            return False
        return True

    def json_body(self) -> dict[str, Any]:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise InputError("body", "The request has no Content-Length, so its JSON body cannot be read.",
                             fix='Send a JSON object such as {"ExperimentName": "my-experiment"}.')
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            raise InputError("body", "The request body is larger than 1 MB.", fix="Send a smaller JSON object.")
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise InputError("body", "The request body is not valid JSON.",
                             fix='Send a JSON object such as {"ExperimentName": "my-experiment"}.') from None
        if not isinstance(body, dict):
            raise InputError("body", "The request body must be a JSON object.",
                             fix='Send a JSON object such as {"ExperimentName": "my-experiment"}.')
        return body

    # -- routes -----------------------------------------------------------------------------------------------
    def submit_pipeline(self, pipeline_id: str) -> None:
        self.submit(self.json_body(), pipeline_id)

    def submit_endpoint(self, endpoint_id: str) -> None:
        body = self.json_body()
        version = body.get("PipelineVersion") or ""
        if not isinstance(version, str):
            raise InputError("PipelineVersion", "Field 'PipelineVersion' must be text.", fix='Write it as "2".')
        published = self.server.backend.resolve_endpoint_id(endpoint_id, version)
        self.submit(body, published.id)

    def submit(self, body: dict[str, Any], pipeline_id: str) -> None:
        from mlops_ci.backends.local.pipelines import check_experiment_name

        experiment = check_experiment_name("ExperimentName", body.get("ExperimentName"))
        assignments = body.get("ParameterAssignments") or {}
        if not isinstance(assignments, dict):
            raise InputError("ParameterAssignments", "Field 'ParameterAssignments' must be a JSON object.",
                             fix='Write {"name": value, ...}.')
        description = body.get("Description") or ""
        if not isinstance(description, str):
            raise InputError("Description", "Field 'Description' must be text.", fix="Write it as a JSON string.")
        tags = body.get("Tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise InputError("Tags", "Field 'Tags' must be a JSON object of text values.",
                             fix='Write {"key": "value", ...}.')
        if body.get("DataPathAssignments"):
            raise InputError("DataPathAssignments", "Field 'DataPathAssignments' is not supported by the local "
                             "engine.", fix="Leave it out: datapath parameters keep their published defaults.")
        run = self.server.backend.submit_pipeline(
            pipeline_id, experiment_name=experiment, parameters=assignments, description=description, tags=tags,
            parameters_field="ParameterAssignments", experiment_field="ExperimentName")
        self.reply(200, {"Id": run.id, "PipelineId": run.pipeline_id, "ExperimentName": run.experiment_name,
                         "Status": run.status, "RunUrl": run.url, "Description": run.description, "Tags": run.tags,
                         "ParameterAssignments": run.parameters, "CreatedTime": run.created_at})

    def get_run(self, run_id: str) -> None:
        run = self.server.backend.get_pipeline_run(run_id)
        self.reply(200, {
            "Id": run.id, "PipelineId": run.pipeline_id, "ExperimentName": run.experiment_name, "Status": run.status,
            "CreatedTime": run.created_at, "StartTime": run.started_at, "EndTime": run.finished_at,
            "Description": run.description, "Tags": run.tags, "ParameterAssignments": run.parameters,
            "RunUrl": run.url, "Error": run.error,
            "Steps": [{"Id": s.id, "Name": s.name, "Status": s.status, "StartTime": s.started_at,
                       "EndTime": s.finished_at, "DurationSeconds": s.duration_seconds, "ReusedFrom": s.reused_from,
                       "ExitCode": s.exit_code, "DependsOn": list(s.depends_on)} for s in run.steps],
        })

    def get_pipeline(self, pipeline_id: str) -> None:
        published = self.server.backend.get_published_pipeline(pipeline_id)
        self.reply(200, {"Id": published.id, "Name": published.name, "Version": published.version,
                         "Description": published.description, "Url": published.endpoint,
                         "CreatedTime": published.created_at, "Steps": list(published.steps),
                         "Parameters": published.parameters, "Status": "Active"})


def _sentence(message: str, fix: str) -> str:
    return f"{message.rstrip('.')}. {fix}".strip() if fix else message
