"""publish-pipeline: publish an Azure ML pipeline YAML (v1, or a v2 pipeline job) or an earlier run's pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_ci import pipeline_summary
from mlops_ci.context import Context, TaskResult
from mlops_ci.errors import InputError
from mlops_ci.inputs import Inputs
from mlops_ci.pipelineyaml import PipelineDefinition, parse_pipeline, read_pipeline_document, v2_pipeline_job_marker


@dataclass(frozen=True)
class Options:
    name: str
    description: str = ""
    version: str = ""
    endpoint_name: str = ""
    definition: PipelineDefinition | None = None
    yaml_path: Path | None = None
    run_id: str = ""
    experiment_name: str = ""
    pipeline_job: Path | None = None  # a v2 pipeline job YAML, read by azure-ai-ml's loader in the v2 backend

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        if inputs.given("pipeline-yaml") == inputs.given("run-id"):
            raise InputError("pipeline-yaml", "Give either 'pipeline-yaml' or 'run-id' (with 'experiment-name').",
                             fix="Set pipeline-yaml to publish a pipeline file, or run-id and experiment-name to "
                                 "publish the pipeline of an earlier run.")
        version = inputs.text("pipeline-version")
        if len(version) > 64 or any(c in version for c in "\r\n\t"):
            raise InputError("pipeline-version", "Input 'pipeline-version' must be one short line.",
                             fix="Use a label such as 1.0 or 2024-06-01.")
        common = {"name": inputs.name("pipeline-name"), "description": inputs.text("pipeline-description"),
                  "version": version, "endpoint_name": inputs.name("endpoint-name", required=False)}
        if inputs.given("run-id"):
            return cls(run_id=inputs.text("run-id"), experiment_name=inputs.name(
                "experiment-name"), **common)
        path = inputs.path("pipeline-yaml", kind="file")
        assert path is not None
        document = read_pipeline_document(path)
        marker = v2_pipeline_job_marker(document)
        if not marker:
            return cls(definition=parse_pipeline(document, inputs.base_dir), yaml_path=path, **common)
        settings = ctx.settings
        if settings.backend != "azureml" or settings.azureml_sdk != "v2":
            reader = "the local backend" if settings.backend == "local" else \
                f"azureml-sdk {settings.azureml_sdk} (azureml-core)"
            raise InputError("pipeline-yaml", f"Input 'pipeline-yaml': `{path.name}` is an Azure ML SDK v2 pipeline "
                             f"job YAML ({marker}), which only azureml-sdk v2 (azure-ai-ml) reads; {reader} reads "
                             "the v1 format (`pipeline:` with `steps:`).",
                             fix="Set backend: azureml with azureml-sdk: v2, or write the pipeline in the v1 format.")
        return cls(pipeline_job=path, yaml_path=path, **common)


def run(options: Options, ctx: Context) -> TaskResult:
    backend = ctx.backend
    if options.pipeline_job is not None:
        published = backend.publish_pipeline_job(options.pipeline_job, name=options.name,
                                                 description=options.description, version=options.version,
                                                 endpoint_name=options.endpoint_name)
        source = f"the pipeline job `{options.pipeline_job.name}`"
    elif options.definition is not None:
        for note in options.definition.notes:
            ctx.runner.warning(note, title="pipeline YAML")
        published = backend.publish_pipeline(options.definition, name=options.name, description=options.description,
                                             version=options.version, endpoint_name=options.endpoint_name)
        source = f"`{options.yaml_path.name}`" if options.yaml_path else "the pipeline YAML"
    else:
        published = backend.publish_pipeline_from_run(
            options.run_id, experiment_name=options.experiment_name, name=options.name,
            description=options.description, version=options.version, endpoint_name=options.endpoint_name)
        source = f"the pipeline of run `{options.run_id}`"
    url = published.endpoint_url or published.endpoint
    done = (f"Published {source} as pipeline `{published.name}` version **{published.version}** "
            f"({len(published.steps)} steps).")
    if published.endpoint_name:
        done += f" It is now the default version of pipeline endpoint `{published.endpoint_name}`."
    ctx.runner.info(f"Published pipeline {published.id}; trigger it with POST {url}")
    return TaskResult(
        outputs={"pipeline-id": published.id, "pipeline-endpoint": url, "pipeline-version": published.version,
                 "endpoint-name": published.endpoint_name},
        done=done,
        links=[("REST endpoint", url)],
        details=pipeline_summary.published(published),
    )
