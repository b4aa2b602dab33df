"""get-logs: a web service's logs (start-up, init() and requests) written to a file and shown in a log group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_ci.context import Context, TaskResult
from mlops_ci.inputs import Inputs


@dataclass(frozen=True)
class Options:
    service_name: str
    tail: int

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        return cls(service_name=inputs.name("service-name"), tail=inputs.integer("tail", minimum=0))


def run(options: Options, ctx: Context) -> TaskResult:
    text = ctx.backend.get_service_logs(options.service_name)
    folder = ctx.settings.workspace_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{options.service_name}.log"
    path.write_text(ctx.runner.redact(text), encoding="utf-8")
    lines = text.splitlines()
    shown = lines[-options.tail:] if options.tail else []
    if shown:
        ctx.runner.log_group(f"{options.service_name}: last {len(shown)} of {len(lines)} log lines",
                             "\n".join(shown))
    return TaskResult(outputs={"logs-path": str(Path(path))},
                      done=f"Wrote {len(lines)} log lines of service `{options.service_name}` to `{path}`.")
