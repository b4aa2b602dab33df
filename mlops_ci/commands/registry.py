"""`mlops-ci models list|show` and `mlops-ci datasets list|show`: the local registries, for people."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from mlops_ci.errors import InputError
from mlops_ci.runner import Runner


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError("arguments", f"The command line is not valid: {message}.",
                         fix=f"Run `{self.prog} --help` to see the flags.")


def _parser(kind: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"mlops-ci {kind}", description=f"Browse the {kind} of the embedded local workspace.")
    parser.add_argument("action", choices=("list", "show"))
    parser.add_argument("ref", nargs="?", help="NAME or NAME:VERSION (show); NAME to filter (list)")
    parser.add_argument("--workspace-dir", default=".mlops-ci")
    parser.add_argument("--json", action="store_true")
    return parser


def _backend(workspace_dir: str, runner: Runner):  # type: ignore[no-untyped-def]
    from mlops_ci.backends.local.backend import LocalBackend
    from mlops_ci.backends.local.workspace import LocalWorkspace

    path = Path(workspace_dir).expanduser().resolve()
    if not (path / "workspace.db").exists():
        raise InputError("workspace-dir", f"No local workspace in '{workspace_dir}'.",
                         fix="Pass --workspace-dir with the folder your tasks used (default .mlops-ci).")
    return LocalBackend(LocalWorkspace(path), runner)


def _split(ref: str | None, kind: str) -> tuple[str, int | None]:
    if not ref:
        raise InputError(kind, f"`mlops-ci {kind}s show` needs NAME or NAME:VERSION.", fix="Add the name.")
    name, _, version = ref.partition(":")
    if version and not version.isdigit():
        raise InputError(kind, f"'{ref}' has a version that is not a number.", fix="Write NAME:VERSION, e.g. wine:2.")
    return name, int(version) if version else None


def _table(runner: Runner, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        runner.stdout.write("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
                            + "\n")


def _browse(kind: str, argv: list[str], runner: Runner) -> int:
    """`list` and `show` for one registry; `kind` is "model" or "dataset"."""
    args = _parser(f"{kind}s").parse_args(argv)
    backend = _backend(args.workspace_dir, runner)
    get, list_all = ((backend.get_model, backend.list_models) if kind == "model"
                     else (backend.get_dataset, backend.list_datasets))
    if args.action == "show":
        name, version = _split(args.ref, kind)
        assets = [get(name, version)]
    else:
        assets = list_all(args.ref)
    if args.json:
        runner.stdout.write(json.dumps([{**asdict(a), "id": a.id} for a in assets], indent=2) + "\n")
    elif args.action == "show":
        for key, value in {**asdict(assets[0]), "id": assets[0].id}.items():
            if key != "reused":
                runner.stdout.write(f"{key}: {value}\n")
    elif kind == "model":
        _table(runner, ("NAME", "VERSION", "SHA256", "SIZE", "CREATED", "DESCRIPTION"),
               [(m.name, str(m.version), m.sha256[:12], str(m.size), m.created_at, m.description[:40]) for m in assets])
    else:
        _table(runner, ("NAME", "VERSION", "TYPE", "SOURCE", "CREATED"),
               [(d.name, str(d.version), d.dataset_type, d.url or d.sha256[:12], d.created_at) for d in assets])
    return 0


def models_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    return _browse("model", argv, runner)


def datasets_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    return _browse("dataset", argv, runner)
