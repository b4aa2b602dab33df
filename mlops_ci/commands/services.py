"""`mlops-ci services list|show|keys|token|logs`: the local web services, for people at a terminal."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict

from mlops_ci.commands.registry import _backend, _table
from mlops_ci.errors import InputError
from mlops_ci.runner import Runner


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError("arguments", f"The command line is not valid: {message}.",
                         fix=f"Run `{self.prog} --help` to see the flags.")


def services_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    parser = _Parser(prog="mlops-ci services", description="The web services of the embedded local workspace.")
    parser.add_argument("action", choices=("list", "show", "keys", "token", "logs"))
    parser.add_argument("name", nargs="?", help="the service (all but list)")
    parser.add_argument("--workspace-dir", default=".mlops-ci")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backend = _backend(args.workspace_dir, runner)
    if args.action == "list":
        services = backend.list_services()
        if args.json:
            runner.stdout.write(json.dumps([_public(s) for s in services], indent=2) + "\n")
        else:
            _table(runner, ("NAME", "TYPE", "STATE", "MODELS", "AUTH", "REPLICAS", "SCORING URI"),
                   [(s.name, s.compute_type, s.state, ",".join(s.model_ids), s.auth_mode, str(s.replicas),
                     s.scoring_uri) for s in services])
        return 0
    if not args.name:
        raise InputError("service-name", f"`mlops-ci services {args.action}` needs the service's name.",
                         fix=f"Run `mlops-ci services {args.action} NAME`.")
    if args.action == "show":
        runner.stdout.write(json.dumps(_public(backend.get_service(args.name)), indent=2) + "\n")
        return 0
    if args.action == "logs":
        runner.stdout.write(runner.redact(backend.get_service_logs(args.name)) + "\n")
        return 0
    # Secrets are printed only to a person who asked for them, on a terminal: never into a CI log or a pipe.
    if not runner.stdout.isatty() or environ.get("GITHUB_ACTIONS") == "true":
        raise InputError("arguments", f"`mlops-ci services {args.action}` prints secrets, so only on a terminal.",
                         fix="In a workflow, use the masked scoring-key output of deploy-aci or promote-aks.")
    if args.action == "keys":
        keys = backend.get_service_keys(args.name)
        runner.stdout.write(f"primary   {keys.primary}\nsecondary {keys.secondary}\n")
    else:
        token = backend.get_service_token(args.name)
        runner.stdout.write(f"{token.token}\n")
    return 0


def _public(service: object) -> dict[str, object]:
    data = asdict(service)  # type: ignore[call-overload]
    if data.get("inference"):
        data["inference"]["source_directory"] = str(data["inference"]["source_directory"])
    if data.get("deployment"):
        data["deployment"].pop("primary_key", None)
        data["deployment"].pop("secondary_key", None)
    return data
