"""An Azure ML v1 pipeline YAML (parsed by mlops_ci.pipelineyaml) translated to an SDK v2 pipeline component.

PythonScriptStep steps become inline command components; pipeline parameters become the component's inputs;
pipeline data between steps becomes uri_folder outputs bound to inputs. What has no clean v2 equivalent (data
references, datapath parameters, runconfig files, paths on compute, outputs on a named datastore) is refused with
an error naming the key, so nothing is silently published differently.
"""

from __future__ import annotations

from typing import Any

from mlops_ci.errors import InputError
from mlops_ci.pipelineyaml import PipelineDefinition, Step

TYPES = {"string": "string", "int": "integer", "float": "number", "bool": "boolean"}
INPUT_MODES = {"mount": "ro_mount", "download": "download", "direct": "direct"}
OUTPUT_MODES = {"mount": "rw_mount", "upload": "upload"}
# The image Azure ML's examples run command steps on (a v1 step without runconfig ran on a default image too).
STEP_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest"


def _refuse(key: str, why: str) -> InputError:
    return InputError("pipeline-yaml", f"Input 'pipeline-yaml': {key} has no clean Azure ML SDK v2 translation "
                      f"({why}).", fix="Remove it, publish with azureml-sdk v1, or write the pipeline as a v2 "
                                       "pipeline component.")


def component_dict(definition: PipelineDefinition, *, name: str, version: str, description: str) -> dict[str, Any]:
    """The pipeline component, as the dict a v2 `type: pipeline` component YAML would hold."""
    if definition.data_references:
        names = ", ".join(r.name for r in definition.data_references)
        raise _refuse(f"pipeline.data_references ({names})", "v2 pipelines take data as inputs at invocation")
    inputs: dict[str, Any] = {}
    for parameter in definition.parameters:
        if parameter.type not in TYPES:
            raise _refuse(f"pipeline.parameters.{parameter.name} (type {parameter.type})",
                          "a datapath parameter becomes a data input, which callers would have to pass")
        entry: dict[str, Any] = {"type": TYPES[parameter.type]}
        if parameter.default is not None:
            entry["default"] = parameter.default
        else:
            entry["optional"] = True
        inputs[parameter.name] = entry
    producers: dict[str, tuple[str, str]] = {}
    for step in definition.steps:
        for output in step.outputs:
            producers[output.destination] = (step.key, output.name)
    jobs = {step.key: _job(step, definition, producers) for step in definition.steps}
    document: dict[str, Any] = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json",
        "type": "pipeline", "name": _component_name(name), "version": version, "display_name": name,
        "inputs": inputs, "outputs": {}, "jobs": jobs}
    if description or definition.description:
        document["description"] = description or definition.description
    return document


def _job(step: Step, definition: PipelineDefinition, producers: dict[str, tuple[str, str]]) -> dict[str, Any]:
    where = f"pipeline.steps.{step.key}"
    if step.runconfig is not None:
        raise _refuse(f"{where}.runconfig", "a v1 RunConfiguration file has no v2 reader; v2 steps name an "
                                            "environment")
    if step.runconfig_parameters:
        raise _refuse(f"{where}.runconfig_parameters", "v2 command steps have no run configuration parameters")
    component_inputs: dict[str, Any] = {}
    bindings: dict[str, Any] = {}
    for parameter in step.parameters:
        kind = next((p.type for p in definition.parameters if p.name == parameter.source), "string")
        component_inputs[parameter.name] = {"type": TYPES.get(kind, "string")}
        bindings[parameter.name] = f"${{{{parent.inputs.{parameter.source}}}}}" if parameter.source \
            else parameter.value
    for item in step.inputs:
        if item.kind != "step-output":
            raise _refuse(f"{where}.inputs.{item.name}", f"a {item.kind} input is data chosen at publish time")
        if item.path_on_compute:
            raise _refuse(f"{where}.inputs.{item.name}.path_on_compute", "v2 chooses the mount path")
        producer, output = producers[item.source]
        component_inputs[item.name] = {"type": "uri_folder", "mode": INPUT_MODES.get(item.bind_mode, "ro_mount")}
        bindings[item.name] = f"${{{{parent.jobs.{producer}.outputs.{output}}}}}"
    component_outputs: dict[str, Any] = {}
    for output in step.outputs:
        if output.path_on_compute:
            raise _refuse(f"{where}.outputs.{output.name}.path_on_compute", "v2 chooses the mount path")
        if output.datastore:
            raise _refuse(f"{where}.outputs.{output.name}.datastore", "v2 outputs go to the workspace's default "
                                                                      "datastore unless given a path at invocation")
        if output.bind_mode not in OUTPUT_MODES:
            raise _refuse(f"{where}.outputs.{output.name}.bind_mode ({output.bind_mode})",
                          "v2 outputs are mounted or uploaded")
        component_outputs[output.name] = {"type": "uri_folder", "mode": OUTPUT_MODES[output.bind_mode]}
    arguments = []
    for argument in step.arguments:
        if argument.kind == "literal":
            arguments.append(_quote(argument.value))
        elif argument.kind in ("parameter", "input"):
            arguments.append(f"${{{{inputs.{argument.value}}}}}")
        else:
            arguments.append(f"${{{{outputs.{argument.value}}}}}")
    compute = step.compute or definition.default_compute
    job: dict[str, Any] = {
        "type": "command", "display_name": step.name, "inputs": bindings,
        "component": {
            "type": "command", "name": _component_name(step.key), "display_name": step.name,
            "is_deterministic": step.allow_reuse, "code": str(step.source_directory),
            "command": " ".join(["python", _quote(step.script_name), *arguments]),
            "environment": {"image": STEP_IMAGE}, "inputs": component_inputs, "outputs": component_outputs,
        },
    }
    if compute:
        job["compute"] = f"azureml:{compute}"
    return job


def _component_name(key: str) -> str:
    """Component names take lowercase letters, digits and underscores (a pipeline name may have dashes)."""
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in key.lower())[:255]
    return text if text[:1].isalpha() else f"c_{text}"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)
