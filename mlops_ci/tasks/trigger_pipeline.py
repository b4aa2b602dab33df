"""trigger-pipeline: start a published pipeline (over HTTP, by id or by endpoint name) and follow the run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from mlops_ci import pipeline_summary
from mlops_ci.context import Context, TaskResult
from mlops_ci.domain import COMPLETED, TERMINAL_STATUSES, PipelineRun
from mlops_ci.errors import InputError, OperationTimeout, ServiceError
from mlops_ci.inputs import Inputs

POLL_FIRST_SECONDS = 0.1
POLL_MAX_SECONDS = 2.0
HTTP_TIMEOUT = (10, 60)  # connect, read


@dataclass(frozen=True)
class Options:
    experiment_name: str
    pipeline_endpoint: str = ""
    pipeline_id: str = ""
    endpoint_name: str = ""
    pipeline_version: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    wait: bool = True
    timeout_seconds: float = 600.0
    max_parallel_steps: int | None = None

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        targets = [name for name in ("pipeline-endpoint", "pipeline-id", "endpoint-name") if inputs.given(name)]
        if len(targets) != 1:
            raise InputError("pipeline-endpoint", "Give exactly one of 'pipeline-endpoint', 'pipeline-id' and "
                             "'endpoint-name'" + (f" (got {', '.join(targets)})." if targets else "."),
                             fix="Use the pipeline-endpoint or pipeline-id output of publish-pipeline, or the "
                                 "endpoint-name it published under.")
        url = inputs.text("pipeline-endpoint")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InputError("pipeline-endpoint", "Input 'pipeline-endpoint' is not an http(s) URL.",
                                 fix="Use the pipeline-endpoint output of publish-pipeline.")
        if inputs.given("pipeline-version") and inputs.given("pipeline-id"):
            raise InputError("pipeline-version", "Input 'pipeline-version' selects an endpoint's version, and "
                             "'pipeline-id' names one pipeline already.",
                             fix="Leave pipeline-version empty, or use endpoint-name.")
        max_parallel = None
        if inputs.given("max-parallel-steps"):
            if url:
                raise InputError("max-parallel-steps", "Input 'max-parallel-steps' cannot travel over the HTTP "
                                 "endpoint.", fix="Use pipeline-id or endpoint-name to set it, or leave it empty.")
            max_parallel = inputs.integer("max-parallel-steps", minimum=1, maximum=256)
        minutes = inputs.number("timeout-minutes", minimum=0.001)
        return cls(
            experiment_name=inputs.name("experiment-name"),
            pipeline_endpoint=url,
            pipeline_id=inputs.text("pipeline-id"),
            endpoint_name=inputs.name("endpoint-name", required=False),
            pipeline_version=inputs.text("pipeline-version"),
            parameters=inputs.mapping("pipeline-parameters"),
            tags=ctx.settings.github.provenance_tags(),
            wait=inputs.boolean("wait"),
            timeout_seconds=minutes * 60,
            max_parallel_steps=max_parallel,
        )


def run(options: Options, ctx: Context) -> TaskResult:
    if options.pipeline_endpoint and (ctx.settings.backend, ctx.settings.azureml_sdk) == ("azureml", "v2"):
        # A v2 batch endpoint takes a job body of its own, not the v1 PipelineSubmit one: the SDK invokes it.
        run_id = ctx.backend.submit_to_endpoint_url(  # type: ignore[attr-defined]
            options.pipeline_endpoint, experiment_name=options.experiment_name, parameters=options.parameters,
            version=options.pipeline_version)
    else:
        run_id = post_to_endpoint(options, ctx) if options.pipeline_endpoint else submit(options, ctx)
    ctx.runner.info(f"Started pipeline run {run_id} in experiment {options.experiment_name}.")
    current = ctx.backend.get_pipeline_run(run_id, experiment_name=options.experiment_name)
    if options.wait:
        current = follow(current, options, ctx)
    outputs = {"run-id": current.id, "run-url": current.url, "run-status": current.status}
    if current.finished and current.status != COMPLETED:
        # main() writes the failure section; the steps table and graph go to the summary first.
        ctx.runner.append_summary(pipeline_summary.run_details(current))
        raise ServiceError(f"Pipeline run '{current.id}' ended {current.status}: {current.error or 'see the logs'}",
                           fix="Read the failed step's log below; fix the step and trigger the pipeline again.",
                           logs=failed_logs(current, ctx, options.experiment_name), outputs=outputs)
    if current.status == COMPLETED:
        reused = sum(1 for s in current.steps if s.reused_from)
        done = (f"Pipeline run `{current.id}` completed: {len(current.steps)} steps"
                + (f", {reused} of them reused from earlier runs." if reused else "."))
    else:
        done = f"Started pipeline run `{current.id}` (not waiting for it: `wait` is false)."
    return TaskResult(outputs=outputs, done=done, links=[("Pipeline run", current.url)],
                      details=pipeline_summary.run_details(current))


def submit(options: Options, ctx: Context) -> str:
    backend = ctx.backend
    if options.endpoint_name:
        pipeline_id = backend.get_pipeline_endpoint(options.endpoint_name, version=options.pipeline_version).id
    else:
        pipeline_id = backend.get_published_pipeline(options.pipeline_id).id
    return backend.submit_pipeline(pipeline_id, experiment_name=options.experiment_name,
                                   parameters=options.parameters, tags=options.tags,
                                   max_parallel_steps=options.max_parallel_steps).id


def post_to_endpoint(options: Options, ctx: Context) -> str:
    """POST to the endpoint exactly as any HTTP client does: bearer token, JSON body, run id in the reply's Id."""
    import requests

    header = ctx.backend.get_authentication_header()
    body: dict[str, object] = {"ExperimentName": options.experiment_name, "ParameterAssignments": options.parameters}
    if options.tags:
        body["Tags"] = options.tags
    if options.pipeline_version:
        body["PipelineVersion"] = options.pipeline_version
    url = options.pipeline_endpoint
    try:
        reply = requests.post(url, headers=header, json=body, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        raise ServiceError(f"Nothing answered at pipeline-endpoint '{url}' ({type(exc).__name__}).",
                           fix="For the local workspace, start its server with `mlops-ci serve` (publish-pipeline "
                               "starts it); check the URL otherwise.") from exc
    message = _error_message(reply)
    if reply.status_code == 400:
        raise InputError("pipeline-parameters", f"The endpoint refused the request: {message}",
                         fix="Fix experiment-name or pipeline-parameters as the message says.")
    if reply.status_code == 404:
        raise InputError("pipeline-endpoint", f"The endpoint does not exist: {message}",
                         fix="Use the pipeline-endpoint output of the latest publish-pipeline.")
    if reply.status_code in (401, 403):
        raise ServiceError(f"The endpoint refused the credentials (HTTP {reply.status_code}): {message}",
                           fix="Check that pipeline-endpoint belongs to this workspace.")
    if reply.status_code != 200:
        raise ServiceError(f"The endpoint answered HTTP {reply.status_code}: {message}",
                           fix="Retry; if it persists, read the server's log.")
    try:
        run_id = reply.json().get("Id")
    except ValueError:
        run_id = None
    if not isinstance(run_id, str) or not run_id:
        raise ServiceError("The endpoint's reply has no run Id.", fix="Check that pipeline-endpoint is a published "
                           "pipeline's REST endpoint.")
    return run_id


def _error_message(reply: object) -> str:
    try:
        error = reply.json().get("Error") or reply.json().get("error") or {}  # type: ignore[attr-defined]
        return str(error.get("Message") or error.get("message") or "")[:500]
    except (ValueError, AttributeError):
        return str(getattr(reply, "text", ""))[:200]


def follow(current: PipelineRun, options: Options, ctx: Context) -> PipelineRun:
    """Poll the run until it ends or the timeout passes; show each step's log as the step ends."""
    deadline = time.monotonic() + options.timeout_seconds
    shown: set[str] = set()
    interval = POLL_FIRST_SECONDS
    last_status = ""
    while True:
        for step in current.steps:
            if step.status in TERMINAL_STATUSES and step.name not in shown:
                shown.add(step.name)
                took = f" in {step.duration_seconds:.1f} s" if step.duration_seconds is not None else ""
                ctx.runner.log_group(f"step {step.name}: {step.status}{took}" + (" (reused)" if step.reused_from else ""),
                                     ctx.backend.get_step_logs(current.id, step.name,
                                                               experiment_name=options.experiment_name))
        if current.finished:
            return current
        if current.status != last_status:
            ctx.runner.info(f"Run {current.id}: {current.status}.")
            last_status = current.status
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            ctx.runner.append_summary(pipeline_summary.run_details(current))
            raise OperationTimeout(
                f"Pipeline run '{current.id}' did not finish within timeout-minutes ({options.timeout_seconds / 60:g}); "
                "it is still running.",
                fix="Raise timeout-minutes, or follow it with `mlops-ci runs show RUN_ID`; it was left running.",
                outputs={"run-id": current.id, "run-url": current.url, "run-status": current.status})
        time.sleep(min(interval, remaining))
        interval = min(interval * 1.5, POLL_MAX_SECONDS)
        current = ctx.backend.get_pipeline_run(current.id, experiment_name=options.experiment_name)


def failed_logs(current: PipelineRun, ctx: Context, experiment_name: str) -> str:
    parts = []
    for step in current.steps:
        if step.status != COMPLETED and step.status in TERMINAL_STATUSES:
            text = ctx.backend.get_step_logs(current.id, step.name, experiment_name=experiment_name)
            parts.append(f"--- step {step.name}: {step.status}\n{text}")
    return "\n".join(parts)
