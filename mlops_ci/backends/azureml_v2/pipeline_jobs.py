"""A v2 pipeline job YAML, read and validated by azure-ai-ml's own loader, published as a pipeline component.

The job's steps, inputs and outputs become the component's; its settings (default compute, datastore, continue on
step failure) become the batch deployment's; what a deployment has no place for (`experiment_name`) is reported.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_ci.errors import InputError

if TYPE_CHECKING:
    from mlops_ci.backends.azureml_v2.backend import AzureMLV2Backend
    from mlops_ci.domain import PublishedPipeline

INPUT = "pipeline-yaml"
LINE = re.compile(r"#line (\d+)")
BINDING = re.compile(r"\$\{\{[^}]+\}\}")


def _problem(path: str, message: str, location: str = "", *, logs: str = "") -> InputError:
    line = LINE.search(location or "")
    where = f" (line {line.group(1)})" if line else ""
    text = " ".join(str(message).split())
    if len(text) > 240:
        text = text[:240] + "…"
    error = InputError(INPUT, f"Input '{INPUT}': `{path or 'the file'}`{where}: {text.rstrip('.')}.",
                       fix="Fix that key; the v2 pipeline job YAML reference is "
                           "https://aka.ms/ml-cli-v2-job-pipeline-yaml-reference.")
    error.logs = logs  # the loader's whole report, for the log group
    return error


def _key_holding(document: Any, needle: str, path: str = "") -> str:
    """The key path of the first value in `document` that contains `needle` (a binding the SDK names alone)."""
    if isinstance(document, dict):
        items = document.items()
    elif isinstance(document, list):
        items = enumerate(document)
    else:
        return path if isinstance(document, str) and needle in document else ""
    for key, value in items:
        found = _key_holding(value, needle, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return ""


def _sdk_errors(text: str) -> list[dict[str, Any]]:
    """The `errors` list azure-ai-ml prints inside its validation message (a JSON block), or []."""
    start = text.find("{")
    while start != -1:
        try:
            block, _ = json.JSONDecoder().raw_decode(text[start:])
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(block, dict) and isinstance(block.get("errors"), list):
            return [e for e in block["errors"] if isinstance(e, dict)]
        start = text.find("{", start + 1)
    return []


def load_pipeline_job(path: Path) -> Any:
    """The PipelineJob azure-ai-ml reads from `path`; any schema or cross-reference error → exit 2 naming its key."""
    import yaml
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import PipelineJob

    # The loader logs notes on experimental classes to stderr; errors reach us as exceptions.
    logging.getLogger("azure").setLevel(logging.ERROR)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    kind = document.get("type", "pipeline") if isinstance(document, dict) else "pipeline"
    if kind != "pipeline":
        raise _problem("type", f"is '{kind}'; publish-pipeline publishes a pipeline job (`type: pipeline`)")
    try:
        job = load_job(source=str(path))
    except Exception as exc:  # the loader's schema errors (marshmallow, ValidationException, YAML)
        text = str(exc)
        errors = [e for e in _sdk_errors(text) if e.get("path") not in (None, "", "*")]
        binding = BINDING.search(text)
        if not errors and binding and _key_holding(document, binding.group(0)):
            raise _problem(_key_holding(document, binding.group(0)), text.strip().splitlines()[0],
                           logs=text[:5000]) from exc
        if errors:
            first = errors[0]
            raise _problem(str(first.get("path") or ""), str(first.get("message") or "is not valid"),
                           str(first.get("location") or ""), logs=text[:5000]) from exc
        raise _problem("", text.strip().splitlines()[0] if text.strip() else type(exc).__name__,
                       logs=text[:5000]) from exc
    if not isinstance(job, PipelineJob):
        raise _problem("type", f"is a {type(job).__name__} YAML, not a pipeline job (`type: pipeline`)")
    result = job._validate()  # bindings, inputs and compute across steps: what the loader alone does not check
    if not result.passed:
        key, message = next(iter(result.error_messages.items()))
        raise _problem(key, message, logs="\n".join(f"{k}: {v}" for k, v in result.error_messages.items()))
    return job


def _compute(value: Any) -> str:
    return str(value or "").removeprefix("azureml:")


class PipelineJobVerbs:
    def publish_pipeline_job(self: AzureMLV2Backend, path: Path, *, name: str, description: str = "",
                             version: str = "", endpoint_name: str = "") -> PublishedPipeline:
        """publish-pipeline with a v2 pipeline job YAML: a pipeline component deployment under `endpoint-name`."""
        from azure.ai.ml.constants._common import BASE_PATH_CONTEXT_KEY

        self._require_batch_endpoint_name(endpoint_name)
        job = self._quiet(lambda: load_pipeline_job(path))  # before any request: a bad file costs no sign-in
        settings = {k: v for k, v in (job.settings._to_dict() if job.settings else {}).items()
                    if v is not None and not k.startswith("_")}
        if job.compute and not settings.get("default_compute"):
            settings["default_compute"] = job.compute  # a pipeline job's `compute` is its steps' default
        if "default_compute" in settings:
            settings["default_compute"] = _compute(settings["default_compute"])
        computes = {"settings.default_compute": settings.get("default_compute", "")}
        computes.update({f"jobs.{key}.compute": _compute(getattr(node, "compute", None))
                         for key, node in job.jobs.items()})
        self._check_computes(computes)
        if job.experiment_name:
            self.runner.warning(f"`experiment_name: {job.experiment_name}` of the pipeline job YAML is not part of "
                                "a batch deployment; trigger-pipeline's experiment-name names the jobs it starts.",
                                title="pipeline YAML")
        version = self._next_pipeline_version(name, version)
        job.compute = None
        job.settings = None  # carried by the deployment below, so the translation drops nothing silently
        component = job._to_component(context={BASE_PATH_CONTEXT_KEY: path.parent.resolve()})
        component.name = self._component_name(name)
        component._is_anonymous = False  # _to_component makes an unnamed one, registered under a content hash
        component.version = version
        component.display_name = job.display_name or name
        component.description = description or job.description or None
        component.tags = dict(job.tags or {})
        return self._deploy_pipeline_component(
            component, name=name, version=version, description=description or job.description or "",
            settings={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in settings.items()},
            steps=tuple(job.jobs), endpoint_name=endpoint_name)
