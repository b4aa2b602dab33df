"""The one error boundary: main() runs a task from the Action's INPUT_* variables or from CLI flags."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from mlops_ci import __version__, summary
from mlops_ci.context import Context, Settings, TaskResult
from mlops_ci.errors import ExitStatus, InputError, Interrupted, MlopsCiError
from mlops_ci.github import hooks as github_hooks
from mlops_ci.inputs import Inputs, inputs_from_environ
from mlops_ci.runner import Runner
from mlops_ci.spec import INPUTS_BY_NAME, SECRET_INPUTS, SECRET_OUTPUTS, all_inputs
from mlops_ci.tasks import TASKS, load_task

# Commands for people at a terminal (not Action tasks): name → "module:function(argv, runner, environ) -> int".
COMMANDS: dict[str, str] = {
    "models": "mlops_ci.commands.registry:models_command",
    "datasets": "mlops_ci.commands.registry:datasets_command",
    "demo": "mlops_ci.demo:demo_command",
    "services": "mlops_ci.commands.services:services_command",
    "serve": "mlops_ci.commands.pipelines:serve_command",
    "token": "mlops_ci.commands.pipelines:token_command",
    "runs": "mlops_ci.commands.pipelines:runs_command",
}

BUG_HINT = "This is a bug in mlops-ci: please report it with the traceback above."


@dataclass(frozen=True)
class Invocation:
    task: str
    inputs: Inputs
    as_json: bool = False


class _ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors become one-sentence input errors instead of usage dumps and exit(2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError("arguments", f"The command line is not valid: {message}.",
                         fix=f"Run `{self.prog} --help` to see the flags.")


def task_parser(task: str) -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog=f"mlops-ci {task}", description=f"Run the {task} task.", allow_abbrev=False)
    for spec in all_inputs():
        if spec.name == "task":
            continue
        default = f" (default: {spec.default})" if spec.default else ""
        parser.add_argument(f"--{spec.name}", dest=spec.name, default=None, metavar="VALUE",
                            help=spec.description + default)
    parser.add_argument("--json", action="store_true", help="Print the outputs as JSON.")
    return parser


def parse_invocation(argv: Sequence[str], environ: Mapping[str, str]) -> Invocation:
    if not argv:
        values = inputs_from_environ(environ)
        return Invocation(task=values.get("task", "").strip(), inputs=Inputs(values))
    task, rest = argv[0], list(argv[1:])
    namespace = task_parser(task).parse_args(rest)
    values = {name: value for name, value in vars(namespace).items() if name in INPUTS_BY_NAME and value is not None}
    values["task"] = task
    return Invocation(task=task, inputs=Inputs(values), as_json=bool(namespace.json))


def usage() -> str:
    tasks = ", ".join(sorted(TASKS))
    commands = ", ".join(sorted(COMMANDS))
    return (f"mlops-ci {__version__}\n\nusage: mlops-ci TASK [--INPUT VALUE ...] [--json]\n"
            f"       mlops-ci COMMAND ...\n\ntasks: {tasks}\ncommands: {commands}\n"
            "Run `mlops-ci TASK --help` for a task's inputs.\n")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one task or command; return the exit status. The only place that catches exceptions."""
    environ = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    runner = Runner(environ, stdout, stderr)
    task = "?"
    started = time.monotonic()
    previous = _install_sigterm()
    try:
        if argv and argv[0] in ("-h", "--help", "help"):
            runner.stdout.write(usage())
            return ExitStatus.SUCCESS
        if argv and argv[0] == "--version":
            runner.stdout.write(f"mlops-ci {__version__}\n")
            return ExitStatus.SUCCESS
        task = argv[0] if argv else inputs_from_environ(environ).get("task", "").strip() or "?"
        if argv and argv[0] in COMMANDS:
            module_name, _, function = COMMANDS[argv[0]].partition(":")
            command = getattr(importlib.import_module(module_name), function)
            return int(command(argv[1:], runner, environ))
        if not argv and task == "?":
            raise InputError("task", "No task was given.", fix="Set the 'task' input, or run `mlops-ci TASK`; "
                             "`mlops-ci --help` lists them.")
        invocation = parse_invocation(argv, environ)
        task = invocation.task
        return run_task(invocation, runner, environ, started)
    except MlopsCiError as exc:
        return report_failure(runner, task, exc, started)
    except KeyboardInterrupt:
        return report_failure(runner, task, Interrupted("The step was interrupted before it finished."), started)
    except Exception as exc:  # noqa: BLE001 - the boundary: anything else is our bug
        runner.stderr.write(runner.redact(traceback.format_exc()))
        runner.error(f"Internal error in mlops-ci ({type(exc).__name__}). {BUG_HINT}", title=f"mlops-ci {task}: bug")
        _summary_failure(runner, task, f"Internal error ({type(exc).__name__}).", "A defect in mlops-ci.",
                         "Please report it with the log of this step.", "bug", "", {})
        return ExitStatus.BUG
    finally:
        _restore_sigterm(previous)


def run_task(invocation: Invocation, runner: Runner, environ: Mapping[str, str], started: float) -> int:
    for name in SECRET_INPUTS:  # mask before anything can print them
        runner.mask(invocation.inputs.raw(name))
    module = load_task(invocation.task)
    settings = Settings.from_inputs(invocation.inputs, runner, environ)
    ctx = Context(settings=settings, runner=runner, environ=environ, started=started)
    options = module.Options.from_inputs(invocation.inputs, ctx)
    github = github_hooks.for_task(invocation.task, invocation.inputs, runner, environ, SECRET_OUTPUTS)
    github.started()
    try:
        result: TaskResult = module.run(options, ctx)
    except BaseException as exc:
        github.failed(exc)  # the failure status and comment; main() still reports it as usual
        raise
    outputs = {"backend": settings.backend, **result.outputs}
    write_outputs(runner, outputs)
    github.succeeded(outputs, result)
    runner.print_outputs(outputs, SECRET_OUTPUTS, invocation.as_json)
    runner.append_summary(summary.render(
        "task.md", task=invocation.task, done=result.done, table=summary.outputs_table(outputs, SECRET_OUTPUTS),
        links=summary.links_list(result.links), backend=settings.backend,
        elapsed=f"{time.monotonic() - started:.1f}") + (result.details + "\n" if result.details else ""))
    return ExitStatus.SUCCESS


def write_outputs(runner: Runner, outputs: Mapping[str, str]) -> None:
    for name, value in outputs.items():
        if name in SECRET_OUTPUTS:
            runner.mask(value)
        runner.set_output(name, value)


def report_failure(runner: Runner, task: str, exc: MlopsCiError, started: float) -> int:
    if exc.outputs:
        write_outputs(runner, exc.outputs)
    if exc.logs:
        runner.log_group(f"{task}: logs", exc.logs)
    runner.error(exc.one_line(), title=f"mlops-ci {task}: {exc.title}")
    _summary_failure(runner, task, exc.message, exc.why or _default_why(exc), exc.fix or "See the message above.",
                     exc.title, exc.logs, exc.outputs)
    return int(exc.exit_status)


def _default_why(exc: MlopsCiError) -> str:
    if isinstance(exc, InputError):
        return f"The value of input '{exc.input_name}' cannot be used as given."
    return "See the message and the logs."


def _summary_failure(runner: Runner, task: str, what: str, why: str, fix: str, title: str, logs: str,
                     outputs: Mapping[str, str]) -> None:
    if not runner.summary_path:
        return
    logs_md = ""
    if logs:
        kept = summary.tail(logs)
        logs_md = summary.render("logs.md", title="Logs", count=str(len(kept.splitlines())),
                                 text=kept.replace("```", "'''"))
    runner.append_summary(summary.render("failure.md", task=task, title=title, what=what, why=why, fix=fix,
                                         table=summary.outputs_table(outputs, SECRET_OUTPUTS), logs=logs_md))


def _raise_interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _install_sigterm() -> object:
    # A cancelled workflow step gets SIGTERM: unwind through finally blocks and transactions, exit 130.
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread (tests may call main() from one)
        return None


def _restore_sigterm(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def console_main() -> int:
    return main()
