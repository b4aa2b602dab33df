"""deploy-aci: preflight score.py, start (or replace) a test web service, smoke-test it, output its URI and key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mlops_ci.context import Context, TaskResult
from mlops_ci.deploy import DeployOptions, deploy


@dataclass(frozen=True)
class Options(DeployOptions):
    COMPUTE_TYPE: ClassVar[str] = "ACI"
    PROMOTE: ClassVar[bool] = False


def run(options: Options, ctx: Context) -> TaskResult:
    return deploy(options, ctx)
