"""`mlops-ci serve`, `mlops-ci token` and `mlops-ci runs list|show`: the workspace server and pipeline runs, for people."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from mlops_ci.errors import InputError, ServiceError
from mlops_ci.runner import Runner


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError("arguments", f"The command line is not valid: {message}.",
                         fix=f"Run `{self.prog} --help` to see the flags.")


def _root(workspace_dir: str) -> Path:
    return Path(workspace_dir).expanduser().resolve()


def _backend(root: Path, runner: Runner, *, create: bool = False):  # type: ignore[no-untyped-def]
    from mlops_ci.backends.local.backend import LocalBackend
    from mlops_ci.backends.local.workspace import LocalWorkspace

    if not create and not (root / "workspace.db").exists():
        raise InputError("workspace-dir", f"No local workspace in '{root}'.",
                         fix="Pass --workspace-dir with the folder your tasks used (default .mlops-ci).")
    return LocalBackend(LocalWorkspace(root), runner)


def serve_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    from mlops_ci.backends.local import server

    parser = _Parser(prog="mlops-ci serve", description="Run the local workspace server (published-pipeline "
                     "endpoints) in the foreground, or stop the one running in the background.")
    parser.add_argument("--workspace-dir", default=".mlops-ci")
    parser.add_argument("--port", type=int, default=None, help="Port on 127.0.0.1 (default: the port it had before, "
                        "else any free one).")
    parser.add_argument("--stop", action="store_true", help="Stop the server of this workspace.")
    args = parser.parse_args(argv)
    root = _root(args.workspace_dir)
    if args.stop:
        stopped = server.stop(root) if (root / "server").is_dir() else None
        runner.stdout.write(f"Stopped the local workspace server (pid {stopped['pid']}).\n" if stopped else
                            "No local workspace server was running.\n")
        return 0
    if args.port is not None and not 0 <= args.port <= 65535:
        raise InputError("port", f"--port {args.port} is not a port number.", fix="Use 1 to 65535, or 0 for any.")
    backend = _backend(root, runner, create=True)
    backend._pipeline_tables()
    backend._connection()  # held for the server's life, so request threads never close the last connection
    state = server.running(root)
    if state:
        raise ServiceError(f"The local workspace server already runs at http://{server.HOST}:{state['port']} "
                           f"(pid {state['pid']}).", fix=f"Stop it with `mlops-ci serve --stop --workspace-dir {root}`.")
    httpd = server.bind(root, backend, port=args.port)
    runner.info(f"Serving the local workspace {root} at http://{server.HOST}:{httpd.server_address[1]} "
                "(Ctrl-C stops it).")
    try:
        server.serve_forever(root, httpd)
    except KeyboardInterrupt:
        runner.info("Stopped.")
    return 0


def token_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    from mlops_ci.backends.local import server

    parser = _Parser(prog="mlops-ci token", description="Print the bearer token of the local workspace's pipeline "
                     "endpoints (send it as `Authorization: Bearer <token>`).")
    parser.add_argument("--workspace-dir", default=".mlops-ci")
    args = parser.parse_args(argv)
    root = _root(args.workspace_dir)
    _backend(root, runner)
    token = server.read_or_create_token(root)
    runner.mask(token)  # in a workflow the log shows ***; the value itself is what this command is for
    runner.stdout.write(token + "\n")
    return 0


def runs_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    parser = _Parser(prog="mlops-ci runs", description="List or show the pipeline runs of the local workspace.")
    parser.add_argument("action", choices=("list", "show"))
    parser.add_argument("run_id", nargs="?", help="the run id (show)")
    parser.add_argument("--experiment", default="", help="only the runs of this experiment (list)")
    parser.add_argument("--logs", action="store_true", help="print each step's log too (show)")
    parser.add_argument("--workspace-dir", default=".mlops-ci")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backend = _backend(_root(args.workspace_dir), runner)
    if args.action == "list":
        runs = backend.list_pipeline_runs(experiment_name=args.experiment)
        if args.json:
            runner.stdout.write(json.dumps([asdict(r) for r in runs], indent=2) + "\n")
            return 0
        _table(runner, ("RUN ID", "STATUS", "EXPERIMENT", "STEPS", "CREATED"),
               [(r.id, r.status, r.experiment_name, _steps_summary(r.steps), r.created_at) for r in runs])
        return 0
    if not args.run_id:
        raise InputError("run_id", "`mlops-ci runs show` needs a RUN_ID.", fix="`mlops-ci runs list` shows them.")
    run = backend.get_pipeline_run(args.run_id)
    if args.json:
        runner.stdout.write(json.dumps(asdict(run), indent=2) + "\n")
        return 0
    for key in ("id", "status", "experiment_name", "pipeline_id", "created_at", "started_at", "finished_at", "url",
                "error"):
        value = getattr(run, key)
        if value:
            runner.stdout.write(f"{key}: {value}\n")
    if run.parameters:
        runner.stdout.write("parameters: " + ", ".join(f"{k}={v}" for k, v in run.parameters.items()) + "\n")
    runner.stdout.write("\n")
    _table(runner, ("STEP", "STATUS", "DURATION", "REUSED", "STEP RUN ID"),
           [(s.name, s.status, f"{s.duration_seconds:.1f}s" if s.duration_seconds is not None else "-",
             "yes" if s.reused_from else "", s.id) for s in run.steps])
    if args.logs:
        for step in run.steps:
            runner.stdout.write(f"\n--- {step.name} ({step.status})\n")
            runner.stdout.write(runner.redact(backend.get_step_logs(run.id, step.name)))
    return 0


def _steps_summary(steps: tuple) -> str:  # type: ignore[type-arg]
    counts: dict[str, int] = {}
    for step in steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _table(runner: Runner, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        runner.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() + "\n")
