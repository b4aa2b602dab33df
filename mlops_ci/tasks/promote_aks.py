"""promote-aks: deploy to the production (AKS) service by blue/green swap; the old version serves on if it fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mlops_ci.context import Context, TaskResult
from mlops_ci.deploy import DeployOptions, deploy


@dataclass(frozen=True)
class Options(DeployOptions):
    COMPUTE_TYPE: ClassVar[str] = "AKS"
    PROMOTE: ClassVar[bool] = True


def run(options: Options, ctx: Context) -> TaskResult:
    return deploy(options, ctx)
