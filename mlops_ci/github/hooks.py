"""What a task does on GitHub around its run: a Deployment and its statuses, then the pull-request comment."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_ci.errors import InputError, MlopsCiError
from mlops_ci.github.event import GithubEvent
from mlops_ci.inputs import Inputs
from mlops_ci.runner import Runner

if TYPE_CHECKING:
    from mlops_ci.context import TaskResult

# task → (what the comment is about, the inputs that name it, first given wins).
COMMENT_SUBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "register-model": ("model", ("model-name",)),
    "deploy-aci": ("service", ("service-name",)),
    "promote-aks": ("service", ("service-name",)),
    "smoke-test": ("service", ("service-name", "scoring-uri")),
    "delete-service": ("service", ("service-name",)),
    "publish-pipeline": ("pipeline", ("endpoint-name", "pipeline-name")),
    "trigger-pipeline": ("pipeline", ("endpoint-name", "pipeline-id", "pipeline-endpoint")),
}
# task → the environment used when the `environment` input is empty, and whether it is production.
DEPLOYMENT_TASKS: dict[str, tuple[str, bool]] = {
    "deploy-aci": ("test", False),
    "promote-aks": ("production", True),
}
MAX_ENVIRONMENT = 255


class NoHooks:
    """Outside Actions, or for a task GitHub shows nothing of."""

    def started(self) -> None:
        pass

    def succeeded(self, outputs: Mapping[str, str], result: TaskResult) -> None:
        pass

    def failed(self, exc: BaseException) -> None:
        pass


@dataclass
class GithubHooks:
    task: str
    runner: Runner
    event: GithubEvent
    token: str = field(repr=False)
    secret_outputs: frozenset[str]
    comment_subject: tuple[str, str] | None = None  # (kind, name)
    environment: str = ""
    production: bool = False
    service: str = ""
    _deployment: Any = None
    _repo: Any = None

    # -- the three moments ---------------------------------------------------------------------------------
    def started(self) -> None:
        if not self.environment:
            return
        from mlops_ci.github import deployments

        request = deployments.DeploymentRequest(
            ref=self.event.commit, environment=self.environment, task=self.task, service=self.service,
            production=self.production, transient=not self.production and self.event.pull_number is not None,
            log_url=self.event.run_url)
        with self._guard("create the GitHub deployment"):
            self._deployment = deployments.start(self.repo(), request)
            self.runner.info(f"GitHub deployment {self._deployment.id} to environment '{self.environment}' "
                             "is in progress.")

    def succeeded(self, outputs: Mapping[str, str], result: TaskResult) -> None:
        self._finish_deployment(ok=True, environment_url=outputs.get("scoring-uri", ""),
                                description=f"{self.task} of {self.service} succeeded")
        from mlops_ci.github.comment import shown_fields

        self._comment(ok=True, fields=shown_fields(outputs, self.secret_outputs), links=tuple(result.links),
                      message="")

    def failed(self, exc: BaseException) -> None:
        # Never let reporting hide the failure being reported: everything here ends as a warning at worst.
        try:
            if isinstance(exc, MlopsCiError):
                message, extra = exc.one_line(), exc.outputs
            else:
                message, extra = f"The step stopped ({type(exc).__name__}).", {}
            self._finish_deployment(ok=False, environment_url="", description=f"{self.task} failed")
            from mlops_ci.github.comment import shown_fields

            self._comment(ok=False, fields=shown_fields(extra, self.secret_outputs), links=(),
                          message=self.runner.redact(message))
        except Exception as bug:  # noqa: BLE001 - reporting a failure must not replace it
            self.runner.warning(f"Could not report the failure to GitHub ({type(bug).__name__}: {bug}).",
                                title="mlops-ci GitHub")

    # -- helpers ---------------------------------------------------------------------------------------------
    def repo(self) -> Any:
        if self._repo is None:
            from mlops_ci.github.client import open_repository

            self._repo = open_repository(self.event.api_url, self.token, self.event.repository)
        return self._repo

    def _finish_deployment(self, *, ok: bool, environment_url: str, description: str) -> None:
        if self._deployment is None:
            return
        from mlops_ci.github import deployments

        with self._guard("update the GitHub deployment"):
            deployments.finish(self._deployment, ok=ok, environment_url=environment_url, description=description,
                               log_url=self.event.run_url)
            self.runner.info(f"GitHub deployment {self._deployment.id}: {'success' if ok else 'failure'}.")

    def _comment(self, *, ok: bool, fields: tuple[tuple[str, str], ...], links: tuple[tuple[str, str], ...],
                 message: str) -> None:
        if self.comment_subject is None or self.event.pull_number is None:
            return
        from mlops_ci.github import comment

        kind, name = self.comment_subject
        section = comment.Section(
            task=self.task, ok=ok, at=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), commit=self.event.commit,
            fields=tuple((k, self.runner.redact(v)) for k, v in fields),
            links=tuple((self.runner.redact(label), self.runner.redact(url)) for label, url in links if url),
            message=message)
        subject = f"{kind}:{name}"

        def build(previous: str) -> str:
            state = comment.parse_state(previous, self.event.workflow, subject)
            state.sections[self.task] = section
            return self.runner.redact(comment.render(state, self.event, kind, name))

        key = comment.comment_key(self.event.workflow, subject)
        with self._guard("comment on the pull request"):
            action, url = comment.upsert(self.repo(), self.event.pull_number, key, build)
            self.runner.info(f"{action.capitalize()} the comment on pull request #{self.event.pull_number}: {url}")

    def _guard(self, doing: str) -> _Guard:
        return _Guard(self.runner, doing)


class _Guard:
    """Turns a GitHub refusal or outage into a warning: the task's own result stands."""

    def __init__(self, runner: Runner, doing: str) -> None:
        self.runner = runner
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        from mlops_ci.github.client import describe_failure

        reason = describe_failure(exc)
        if reason is None:
            return False
        hint = ""
        if "lacks a permission" in reason:
            hint = (" Grant the job `pull-requests: write` (comments) and `deployments: write` (deployments), or set "
                    "pr-comment: false / github-deployment: false.")
        self.runner.warning(f"Could not {self.doing}: {reason}.{hint}", title="mlops-ci GitHub")
        return True


def for_task(task: str, inputs: Inputs, runner: Runner, environ: Mapping[str, str],
             secret_outputs: frozenset[str]) -> GithubHooks | NoHooks:
    """The hooks for this step; inputs are checked everywhere, GitHub is called only in Actions."""
    want_comment = inputs.boolean("pr-comment")
    want_deployment = inputs.boolean("github-deployment")
    environment = inputs.text("environment")
    if len(environment) > MAX_ENVIRONMENT or any(ch in environment for ch in "\r\n"):
        raise InputError("environment", "Input 'environment' is not a valid GitHub environment name.",
                         fix=f"Use one line of at most {MAX_ENVIRONMENT} characters, such as test or production.")
    if environ.get("GITHUB_ACTIONS") != "true":
        return NoHooks()
    event = GithubEvent.from_environ(environ)
    subject = _subject(task, inputs) if want_comment and event.pull_number is not None else None
    deploy = DEPLOYMENT_TASKS.get(task) if want_deployment else None
    if subject is None and deploy is None:
        return NoHooks()
    token = inputs.raw("github-token") or environ.get("GITHUB_TOKEN", "")
    runner.mask(token)
    if not token or not event.repository:
        runner.warning("No GitHub token was given, so the pull-request comment and the deployment are skipped.",
                       title="mlops-ci GitHub")
        return NoHooks()
    hooks = GithubHooks(task=task, runner=runner, event=event, token=token, secret_outputs=secret_outputs,
                        comment_subject=subject)
    if deploy is not None:
        default_environment, production = deploy
        hooks.environment = environment or default_environment
        hooks.production = production
        hooks.service = inputs.raw("service-name")
    return hooks


def _subject(task: str, inputs: Inputs) -> tuple[str, str] | None:
    entry = COMMENT_SUBJECTS.get(task)
    if entry is None:
        return None
    kind, names = entry
    for name in names:
        if inputs.given(name):
            # Several models in one step: one comment about all of them, named on one line.
            return kind, ", ".join(inputs.items(name)) if kind == "model" else inputs.raw(name)
    return None
