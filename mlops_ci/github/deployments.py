"""GitHub Deployments for deploy-aci and promote-aks: a deployment per step, its statuses in_progress → success|failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

# Only the hooks import this module, and only when they call GitHub: PyGithub is loaded here, not at start-up.
from github.GithubObject import NotSet

if TYPE_CHECKING:
    from github.Deployment import Deployment
    from github.Repository import Repository

# GitHub refuses longer deployment descriptions.
MAX_DESCRIPTION = 140


@dataclass(frozen=True)
class DeploymentRequest:
    ref: str
    environment: str
    task: str
    service: str
    production: bool
    transient: bool
    log_url: str = ""


def _short(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def start(repo: Repository, request: DeploymentRequest) -> Deployment:
    """Create the deployment and mark it in progress."""
    deployment = repo.create_deployment(
        ref=request.ref, task=f"deploy:{request.task}", environment=request.environment,
        # No merge of the default branch into the ref and no wait for commit statuses: the workflow already decided.
        auto_merge=False, required_contexts=[],
        payload={"service-name": request.service, "task": request.task},
        description=_short(f"mlops-ci {request.task} {request.service}"),
        production_environment=request.production, transient_environment=request.transient,
    )
    deployment.create_status("in_progress", description=_short(f"{request.task} of {request.service} started"),
                             target_url=request.log_url or NotSet)
    return deployment


def finish(deployment: Deployment, *, ok: bool, environment_url: str, description: str, log_url: str) -> None:
    """The final status; on success the environment's URL is the scoring URI, so the Environments page links to it."""
    deployment.create_status("success" if ok else "failure", description=_short(description), auto_inactive=ok,
                             target_url=log_url or NotSet, environment_url=(ok and environment_url) or NotSet)

