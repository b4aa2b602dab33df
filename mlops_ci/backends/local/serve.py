"""One generation of a local endpoint: azmlinfsrv's own start-up and Flask app under gunicorn, on sockets we hand it.

The supervisor binds the sockets and passes them in: the service's public socket (shared by every generation,
so a swap never closes it) and this generation's private socket (for the smoke test before traffic moves).
Workers serve the private socket at once and join the public one when the gate file appears (SIGWINCH wakes them).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.sync import SyncWorker

GATE_ENV = "MLOPS_CI_GATE"
READY_ENV = "MLOPS_CI_READY_DIR"
PUBLIC_PORT_ENV = "MLOPS_CI_PUBLIC_PORT"


class GatedSyncWorker(SyncWorker):
    """gunicorn's sync worker (what azmlinfsrv runs), holding back the public socket until the gate opens."""

    def run(self) -> None:
        public_port = int(os.environ[PUBLIC_PORT_ENV])
        self._all = list(self.sockets)
        self._public = [s for s in self._all if s.getsockname()[1] == public_port]
        self._private = [s for s in self._all if s not in self._public]
        for sock in self._all:
            sock.setblocking(False)
        self._gate = os.environ[GATE_ENV]  # set last: handle_winch acts only once the socket lists exist
        self._apply_gate()
        # init() has run (the app is loaded before run()): tell the supervisor this worker can serve.
        ready = Path(os.environ[READY_ENV]) / str(os.getpid())
        ready.write_text("ready", encoding="utf-8")
        self.run_for_multiple(self.timeout or 0.5)

    def _apply_gate(self) -> None:
        live = os.path.exists(self._gate)
        self.sockets = self._private + (self._public if live else [])
        self.wait_fds = self.sockets + [self.PIPE[0]]

    def handle_winch(self, sig: int, frame: Any) -> None:
        # SIGWINCH is ignored by default, so a signal that arrives before this handler is installed is harmless;
        # run() reads the gate file after installing it, so no opening is missed.
        if hasattr(self, "_gate"):
            self._apply_gate()


class EndpointApplication(BaseApplication):
    """The inference server's Flask app behind our auth gate, with azmlinfsrv's gunicorn settings."""

    def __init__(self, options: dict[str, Any], service: str, secrets_path: str) -> None:
        self.options = options
        self.service = service
        self.secrets_path = secrets_path
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # Importing the entry module creates the app, which imports score.py and runs init() in this worker.
        from azureml_inference_server_http.server.entry import app

        from mlops_ci.backends.local.auth import AuthGate, ServiceSecrets

        return AuthGate(app, ServiceSecrets.load(Path(self.secrets_path)), self.service)


def main(config_path: str, public_fd: int, private_fd: int) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    os.environ.update(config["environment"])
    os.environ[GATE_ENV] = config["gate"]
    os.environ[READY_ENV] = config["ready_dir"]
    os.environ[PUBLIC_PORT_ENV] = str(config["public_port"])
    if config.get("scoring_timeout_ms"):
        os.environ["SCORING_TIMEOUT_MS"] = str(config["scoring_timeout_ms"])

    # azmlinfsrv's own start-up, so the environment, sys.path and the start-up log are exactly the server's.
    from azureml_inference_server_http import amlserver
    from azureml_inference_server_http.args import parse_arguments
    from azureml_inference_server_http.constants import DEFAULT_WORKER_TIMEOUT_SECONDS, ENV_WORKER_TIMEOUT
    from azureml_inference_server_http.log_config import load_logging_config

    sys.argv = ["azmlinfsrv", "--entry_script", config["entry_script"], "--model_dir", config["model_dir"],
                "--port", str(config["public_port"]), "--worker_count", str(config["workers"])]
    args = parse_arguments()
    load_logging_config(amlserver.PACKAGE_ROOT)
    amlserver.merge_configuration(args)
    amlserver.validate_environment_variables()
    amlserver.set_path_variable()
    amlserver.print_server_info()
    amlserver.print_server_settings()
    amlserver.print_routes()
    sys.stdout.flush()

    from gunicorn import sock
    from gunicorn.arbiter import Arbiter

    options = {
        "workers": int(config["workers"]),
        "timeout": int(os.environ.get(ENV_WORKER_TIMEOUT, DEFAULT_WORKER_TIMEOUT_SECONDS)),
        "graceful_timeout": int(config.get("graceful_timeout", 30)),
        "accesslog": "-",
        "errorlog": "/dev/null",
        "worker_class": "mlops_ci.backends.local.serve.GatedSyncWorker",
        "control_socket_disable": True,  # gunicorn's default control socket path is shared by every server
        "proc_name": f"mlops-ci:{config['service']}",
    }
    application = EndpointApplication(options, config["service"], config["secrets"])
    arbiter = Arbiter(application)
    arbiter.LISTENERS = [sock.TCPSocket(("127.0.0.1", 0), application.cfg, arbiter.log, fd=fd)
                         for fd in (public_fd, private_fd)]
    arbiter.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
