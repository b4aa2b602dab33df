"""delete-service: stop a web service and remove it; succeeds when it is already gone."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_ci.context import Context, TaskResult
from mlops_ci.inputs import Inputs


@dataclass(frozen=True)
class Options:
    service_name: str
    timeout_s: float

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        return cls(service_name=inputs.name("service-name"),
                   timeout_s=inputs.number("timeout-minutes", minimum=0.1) * 60)


def run(options: Options, ctx: Context) -> TaskResult:
    deleted = ctx.backend.delete_service(options.service_name, timeout=options.timeout_s)
    done = (f"Deleted service `{options.service_name}`." if deleted else
            f"Service `{options.service_name}` did not exist: nothing to delete.")
    ctx.runner.info(done.replace("`", "'"))
    return TaskResult(outputs={"deleted": "true" if deleted else "false"}, done=done)
