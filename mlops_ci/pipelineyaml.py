"""Azure ML v1 pipeline YAML (the `Pipeline.load_yaml` format): parsed and validated into frozen dataclasses."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops_ci.errors import InputError

PARAMETER_TYPES = ("string", "int", "float", "bool", "datapath")
# The step types Azure's parser knows, in both spellings; only PythonScriptStep runs here.
STEP_TYPES = ("PythonScriptStep", "ModuleStep", "ParallelRunStep", "AdlaStep", "DataTransferStep",
              "DatabricksStep", "AzureBatchStep")
LEGACY_STEP_KEYS = {"python_script_step": "PythonScriptStep", "module": "ModuleStep",
                    "parallel_run_step": "ParallelRunStep", "adla_step": "AdlaStep",
                    "data_transfer_step": "DataTransferStep", "databricks_step": "DatabricksStep",
                    "azurebatch_step": "AzureBatchStep"}
PIPELINE_KEYS = frozenset({"name", "description", "parameters", "data_references", "default_compute", "steps"})
STEP_KEYS = frozenset({"type", "name", "script_name", "source_directory", "arguments", "parameters",
                       "runconfig_parameters", "inputs", "outputs", "allow_reuse", "compute", "runconfig", "version",
                       "hash_paths"})
INPUT_KEYS = frozenset({"source", "bind_mode", "type", "path_on_compute", "overwrite"})
OUTPUT_KEYS = frozenset({"destination", "datastore", "bind_mode", "type", "path_on_compute", "overwrite", "as_dataset"})
DATA_REFERENCE_KEYS = frozenset({"datastore", "path_on_datastore", "dataset_name", "dataset_id"})
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
INPUT_NAME = "pipeline-yaml"

ParameterValue = str | int | float | bool


@dataclass(frozen=True)
class DataPath:
    """A path on a datastore (a `datapath` parameter's value, or a data reference)."""

    datastore: str
    path_on_datastore: str
    name: str = ""


@dataclass(frozen=True)
class PipelineParameter:
    name: str
    type: str  # one of PARAMETER_TYPES
    default: ParameterValue | DataPath | None = None


@dataclass(frozen=True)
class DataReference:
    """`pipeline.data_references.NAME`: a registered dataset (by name or id) or a path on a datastore."""

    name: str
    dataset_name: str = ""
    dataset_id: str = ""
    datapath: DataPath | None = None

    @property
    def is_dataset(self) -> bool:
        return bool(self.dataset_name or self.dataset_id)


@dataclass(frozen=True)
class StepInput:
    name: str
    source: str
    kind: str  # "step-output", "data-reference" or "datapath-parameter"
    bind_mode: str = "mount"
    path_on_compute: str = ""


@dataclass(frozen=True)
class StepOutput:
    name: str
    destination: str
    bind_mode: str = "mount"
    datastore: str = ""
    path_on_compute: str = ""
    as_dataset: bool = False


@dataclass(frozen=True)
class StepParameter:
    """A step's parameter: a literal value, or `source:` a pipeline parameter (overridable at submit)."""

    name: str
    value: ParameterValue | None = None
    source: str = ""


@dataclass(frozen=True)
class Argument:
    kind: str  # "literal", "input", "output" or "parameter"
    value: str


@dataclass(frozen=True)
class Step:
    key: str
    name: str
    script_name: str
    source_directory: Path
    arguments: tuple[Argument, ...] = ()
    parameters: tuple[StepParameter, ...] = ()
    runconfig_parameters: tuple[StepParameter, ...] = ()
    inputs: tuple[StepInput, ...] = ()
    outputs: tuple[StepOutput, ...] = ()
    allow_reuse: bool = True
    compute: str = ""
    runconfig: Path | None = None
    version: str = ""


@dataclass(frozen=True)
class PipelineDefinition:
    description: str
    steps: tuple[Step, ...]  # in dependency order (a step comes after every step it reads from)
    parameters: tuple[PipelineParameter, ...] = ()
    data_references: tuple[DataReference, ...] = ()
    default_compute: str = ""
    notes: tuple[str, ...] = field(default=(), compare=False)  # deprecations Azure's parser also warns about

    def step(self, key: str) -> Step:
        return next(step for step in self.steps if step.key == key)

    def producers(self) -> dict[str, tuple[str, str]]:
        """Pipeline data name → (step key, output name) of the step that writes it."""
        return {out.destination: (step.key, out.name) for step in self.steps for out in step.outputs}

    def upstream(self, step: Step) -> tuple[str, ...]:
        """Keys of the steps whose outputs this step reads, in pipeline order."""
        producers = self.producers()
        wanted = {producers[i.source][0] for i in step.inputs if i.kind == "step-output"}
        return tuple(s.key for s in self.steps if s.key in wanted)

    def edges(self) -> tuple[tuple[str, str, str], ...]:
        """(from step, to step, pipeline data name) for the graph."""
        producers = self.producers()
        return tuple((producers[i.source][0], step.key, i.source) for step in self.steps for i in step.inputs
                     if i.kind == "step-output")

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PipelineDefinition:
        return definition_from_dict(json.loads(text))


def definition_from_dict(data: Mapping[str, Any]) -> PipelineDefinition:
    def datapath(value: Any) -> DataPath | None:
        return DataPath(**value) if isinstance(value, dict) else None

    def param(p: Mapping[str, Any]) -> PipelineParameter:
        default = datapath(p["default"]) if p["type"] == "datapath" else p["default"]
        return PipelineParameter(p["name"], p["type"], default)

    def step(s: Mapping[str, Any]) -> Step:
        return Step(
            key=s["key"], name=s["name"], script_name=s["script_name"], source_directory=Path(s["source_directory"]),
            arguments=tuple(Argument(**a) for a in s["arguments"]),
            parameters=tuple(StepParameter(**p) for p in s["parameters"]),
            runconfig_parameters=tuple(StepParameter(**p) for p in s["runconfig_parameters"]),
            inputs=tuple(StepInput(**i) for i in s["inputs"]), outputs=tuple(StepOutput(**o) for o in s["outputs"]),
            allow_reuse=s["allow_reuse"], compute=s["compute"],
            runconfig=Path(s["runconfig"]) if s["runconfig"] else None, version=s["version"])

    return PipelineDefinition(
        description=data["description"], steps=tuple(step(s) for s in data["steps"]),
        parameters=tuple(param(p) for p in data["parameters"]),
        data_references=tuple(DataReference(r["name"], r["dataset_name"], r["dataset_id"], datapath(r["datapath"]))
                              for r in data["data_references"]),
        default_compute=data["default_compute"], notes=tuple(data.get("notes", ())))


# -- errors ---------------------------------------------------------------------------------------------------
def _error(path: str, problem: str, fix: str) -> InputError:
    where = f"`{path}`" if path else "the file"
    return InputError(INPUT_NAME, f"Input '{INPUT_NAME}': {where} {problem}", fix=fix)


def _kind(value: object) -> str:
    if value is None:
        return "empty"
    return {bool: "a boolean", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def _mapping(value: object, path: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(path, f"must be a mapping of {what}, not {_kind(value)}.", f"Write `{path.rsplit('.', 1)[-1]}:` "
                     f"followed by indented `name: ...` entries.")
    for key in value:
        if not isinstance(key, str):
            raise _error(f"{path}.{key}", "is not a text key.", "Use names made of letters, digits, '_', '.', '-'.")
    return value


def _text(section: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str:
    value = section.get(key)
    if value is None or value == "":
        if required:
            raise _error(f"{path}.{key}", "is missing.", f"Add `{key}:` to `{path}`.")
        return ""
    if not isinstance(value, str):
        raise _error(f"{path}.{key}", f"must be text, not {_kind(value)}.", "Quote the value.")
    return value


def _known_keys(section: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in section:
        if key not in allowed:
            raise _error(f"{path}.{key}", "is not a key Azure's pipeline YAML reads here.",
                         "Remove it or fix its spelling; the keys read here are: " + ", ".join(sorted(allowed)) + ".")


# -- loading --------------------------------------------------------------------------------------------------
def _loader() -> type:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """Azure's parser (ruamel, round-trip) refuses duplicate keys; PyYAML would keep the last one silently."""

        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key '{key}' appears twice", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def load_pipeline_yaml(path: Path, base_dir: Path) -> PipelineDefinition:
    """Read and validate a pipeline YAML file; paths in it are relative to base_dir (the working directory)."""
    return parse_pipeline(read_pipeline_document(path), base_dir)


def v2_pipeline_job_marker(document: object) -> str:
    """What marks `document` as an Azure ML SDK v2 pipeline job YAML (its `$schema`, `type: pipeline` or `jobs:`),
    or '' for the v1 format (a top-level `pipeline:`)."""
    if not isinstance(document, dict) or "pipeline" in document:
        return ""
    schema = document.get("$schema")
    if isinstance(schema, str) and "azuremlschemas" in schema:
        return f"`$schema: {schema[:120]}`"
    if document.get("type") == "pipeline":
        return "`type: pipeline`"
    if "jobs" in document:
        return "`jobs:`"
    return ""


def read_pipeline_document(path: Path) -> object:
    """The YAML document of a pipeline file, with duplicate keys refused; not yet validated."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _error("", "is not UTF-8 text.", "Save the pipeline YAML as UTF-8.") from None
    try:
        document = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise _error("", f"is not valid YAML{where}: {problem}.", "Fix the YAML syntax.") from None
    return document


def parse_pipeline(document: object, base_dir: Path) -> PipelineDefinition:
    if not isinstance(document, dict) or "pipeline" not in document:
        raise _error("", "has no `pipeline:` section.", "Start the file with `pipeline:` and put `steps:` under it, "
                     "as Azure's pipeline YAML does.")
    _known_keys(document, frozenset({"pipeline"}), "")
    section = _mapping(document["pipeline"], "pipeline", "pipeline settings")
    _known_keys(section, PIPELINE_KEYS, "pipeline")
    notes: list[str] = []
    description = _text(section, "description", "pipeline")
    if "name" in section:
        notes.append("`pipeline.name` is deprecated in Azure's pipeline YAML; use `pipeline.description`.")
        description = description or _text(section, "name", "pipeline")
    parameters = _parameters(section.get("parameters"))
    references = _data_references(section.get("data_references"))
    default_compute = _text(section, "default_compute", "pipeline")
    if "steps" not in section or not section["steps"]:
        raise _error("pipeline.steps", "is missing or empty.", "Add at least one step under `pipeline.steps`.")
    steps_section = _mapping(section["steps"], "pipeline.steps", "steps")
    params_by_name = {p.name: p for p in parameters}
    refs_by_name = {r.name: r for r in references}
    for name in params_by_name.keys() & refs_by_name.keys():
        raise _error(f"pipeline.data_references.{name}", "has the name of a pipeline parameter too.",
                     "Give the data reference and the parameter different names.")
    steps = [_step(key, value, params_by_name, refs_by_name, default_compute, base_dir, notes)
             for key, value in steps_section.items()]
    _check_data_flow(steps, params_by_name, refs_by_name)
    ordered = _dependency_order(steps)
    return PipelineDefinition(description=description, steps=ordered, parameters=parameters,
                              data_references=references, default_compute=default_compute, notes=tuple(notes))


def _parameters(raw: object) -> tuple[PipelineParameter, ...]:
    if raw is None:
        return ()
    section = _mapping(raw, "pipeline.parameters", "parameters")
    result = []
    for name, spec in section.items():
        path = f"pipeline.parameters.{name}"
        if not STEP_NAME.match(name):
            raise _error(path, "is not a valid parameter name.", "Use letters, digits, '_', '.' and '-'.")
        spec = _mapping(spec, path, "`type` and `default`")
        _known_keys(spec, frozenset({"type", "default"}), path)
        kind = spec.get("type")
        if kind is None:
            raise _error(f"{path}.type", "is missing.", "Give the parameter a type: string, int, float, bool or "
                         "datapath.")
        if kind not in PARAMETER_TYPES:
            raise _error(f"{path}.type", f"is '{kind}', which is not a parameter type.",
                         "Use string, int, float, bool or datapath.")
        default = coerce_value(kind, spec.get("default"), f"{path}.default", present="default" in spec)
        result.append(PipelineParameter(name, kind, default))
    return tuple(result)


def coerce_value(kind: str, value: object, path: str, *, present: bool = True) -> ParameterValue | DataPath | None:
    """A parameter value checked against its type, as Azure converts defaults (int('3') is fine, int('x') is not)."""
    if kind == "datapath":
        if not present or value is None:
            return None
        spec = _mapping(value, path, "`datastore` and `path_on_datastore`")
        _known_keys(spec, frozenset({"datastore", "path_on_datastore", "name"}), path)
        return DataPath(_text(spec, "datastore", path, required=True),
                        _text(spec, "path_on_datastore", path, required=True), _text(spec, "name", path))
    if not present:
        return {"string": None, "int": 0, "float": 0.0, "bool": False}[kind]
    if isinstance(value, dict | list) or value is None:
        raise _error(path, f"must be a single {kind} value, not {_kind(value)}.", f"Write a {kind} value.")
    if kind == "string":
        return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _error(path, f"is '{value}', which is not a bool.", "Write true or false.")
    if isinstance(value, bool):
        raise _error(path, f"is a boolean, which is not {'an int' if kind == 'int' else 'a float'}.",
                     "Write a number.")
    try:
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)  # type: ignore[arg-type]
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _error(path, f"is '{str(value)[:40]}', which is not {'an int' if kind == 'int' else 'a float'}.",
                     "Write a number such as 10" + (" (a whole number)." if kind == "int" else " or 0.5.")) from None
    if not math.isfinite(number):
        raise _error(path, f"is '{value}', which is not a finite number.", "Write a number such as 0.5.")
    return number


def _data_references(raw: object) -> tuple[DataReference, ...]:
    if raw is None:
        return ()
    section = _mapping(raw, "pipeline.data_references", "data references")
    result = []
    for name, spec in section.items():
        path = f"pipeline.data_references.{name}"
        spec = _mapping(spec, path, "`dataset_name`, or `datastore` and `path_on_datastore`")
        if any(key.startswith("sql_") for key in spec):
            raise _error(path, "is a SQL data reference, which the local engine cannot read.",
                         "Use a registered dataset (`dataset_name:`) or a path on a datastore.")
        _known_keys(spec, DATA_REFERENCE_KEYS, path)
        if "dataset_name" in spec or "dataset_id" in spec:
            result.append(DataReference(name, dataset_name=_text(spec, "dataset_name", path),
                                        dataset_id=_text(spec, "dataset_id", path)))
        elif "datastore" in spec:
            result.append(DataReference(name, datapath=DataPath(_text(spec, "datastore", path, required=True),
                                                                _text(spec, "path_on_datastore", path, required=True),
                                                                name)))
        else:
            raise _error(path, "names neither a dataset nor a datastore path.",
                         "Add `dataset_name: NAME`, or `datastore:` with `path_on_datastore:`.")
    return tuple(result)


def _step_type(key: str, spec: Mapping[str, Any], path: str, notes: list[str]) -> dict[str, Any]:
    """The step's own section: the step itself with `type:`, or the deprecated `python_script_step:` sub-section."""
    if "type" in spec:
        kind = spec["type"]
        if kind not in STEP_TYPES:
            raise _error(f"{path}.type", f"is '{kind}', which is not an Azure ML pipeline step type.",
                         "Use `type: PythonScriptStep`.")
        if kind != "PythonScriptStep":
            raise _error(f"{path}.type", f"is {kind}, which the local pipeline engine does not run.",
                         "Use `type: PythonScriptStep`; other step types run only on Azure ML.")
        return dict(spec)
    legacy = [k for k in spec if k in LEGACY_STEP_KEYS]
    if not legacy:
        raise _error(f"{path}.type", "is missing.", "Add `type: PythonScriptStep` to the step.")
    if legacy[0] != "python_script_step":
        raise _error(f"{path}.{legacy[0]}", f"makes this a {LEGACY_STEP_KEYS[legacy[0]]}, which the local "
                     "pipeline engine does not run.", "Use `type: PythonScriptStep`.")
    notes.append(f"`{path}.python_script_step` is deprecated in Azure's pipeline YAML; use `type: PythonScriptStep`.")
    inner = _mapping(spec["python_script_step"], f"{path}.python_script_step", "step settings")
    merged = {k: v for k, v in spec.items() if k != "python_script_step"}
    # Azure reads script_name, name, source_directory, allow_reuse, version from the sub-section, the rest outside.
    for k, v in inner.items():
        merged[k] = v
    return merged


def _step(key: object, raw: object, params: Mapping[str, PipelineParameter], refs: Mapping[str, DataReference],
          default_compute: str, base_dir: Path, notes: list[str]) -> Step:
    path = f"pipeline.steps.{key}"
    if not isinstance(key, str) or not STEP_NAME.match(key):
        raise _error(path, "is not a valid step name.", "Use 1 to 128 letters, digits, '_', '.' or '-'.")
    spec = _step_type(key, _mapping(raw, path, "step settings"), path, notes)
    _known_keys(spec, STEP_KEYS, path)
    if "hash_paths" in spec:
        notes.append(f"`{path}.hash_paths` is deprecated and ignored: every file of source_directory is hashed.")
    script_name = _text(spec, "script_name", path, required=True)
    source = _text(spec, "source_directory", path)
    if not source:
        raise _error(f"{path}.source_directory", "is missing.", "Set it to the folder that holds "
                     f"'{script_name}': only that folder is copied for the step, as Azure snapshots it.")
    source_dir = (base_dir / source).resolve()
    if not source_dir.is_dir():
        raise _error(f"{path}.source_directory", f"is '{source}', which is not a folder.",
                     "Name a folder relative to the working directory (the repository root in a workflow).")
    script = (source_dir / script_name).resolve()
    if not script.is_relative_to(source_dir):
        raise _error(f"{path}.script_name", f"'{script_name}' lies outside source_directory.",
                     "Name the script relative to source_directory.")
    if not script.is_file():
        raise _error(f"{path}.script_name", f"is '{script_name}', which is not a file in '{source}'.",
                     "Check the script's name; it is relative to source_directory.")
    allow_reuse = spec.get("allow_reuse", True)
    if not isinstance(allow_reuse, bool):
        raise _error(f"{path}.allow_reuse", f"must be true or false, not {_kind(allow_reuse)}.", "Write true or false.")
    runconfig: Path | None = None
    if _text(spec, "runconfig", path):
        runconfig = (base_dir / spec["runconfig"]).resolve()
        if not runconfig.is_file():
            raise _error(f"{path}.runconfig", f"is '{spec['runconfig']}', which is not a file.",
                         "Name a run configuration YAML relative to the working directory.")
    inputs = _inputs(spec.get("inputs"), f"{path}.inputs", params, refs)
    outputs = _outputs(spec.get("outputs"), f"{path}.outputs")
    for name in {i.name for i in inputs} & {o.name for o in outputs}:
        raise _error(f"{path}.outputs.{name}", "has the name of one of the step's inputs.",
                     "Give inputs and outputs different names.")
    parameters = _step_parameters(spec.get("parameters"), f"{path}.parameters", params)
    runconfig_parameters = _step_parameters(spec.get("runconfig_parameters"), f"{path}.runconfig_parameters", params)
    arguments = _arguments(spec.get("arguments"), f"{path}.arguments", inputs, outputs, parameters)
    return Step(key=key, name=_text(spec, "name", path) or key, script_name=script_name, source_directory=source_dir,
                arguments=arguments, parameters=parameters, runconfig_parameters=runconfig_parameters, inputs=inputs,
                outputs=outputs, allow_reuse=allow_reuse, compute=_text(spec, "compute", path) or default_compute,
                runconfig=runconfig, version=_text(spec, "version", path))


def _bind_mode(spec: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> str:
    key = "bind_mode" if "bind_mode" in spec else "type" if "type" in spec else ""
    if not key:
        return "mount"
    mode = spec[key]
    if mode not in allowed:
        raise _error(f"{path}.{key}", f"is '{mode}', which is not a bind mode here.", f"Use {' or '.join(allowed)}.")
    return str(mode)


def _inputs(raw: object, path: str, params: Mapping[str, PipelineParameter],
            refs: Mapping[str, DataReference]) -> tuple[StepInput, ...]:
    if raw is None:
        return ()
    result = []
    for name, spec in _mapping(raw, path, "inputs").items():
        here = f"{path}.{name}"
        spec = _mapping(spec, here, "`source` and `bind_mode`")
        _known_keys(spec, INPUT_KEYS, here)
        source = _text(spec, "source", here, required=True)
        if source in params:
            if params[source].type != "datapath":
                raise _error(f"{here}.source", f"names parameter '{source}', which is a {params[source].type} "
                             "parameter, not a datapath.", "Take inputs from a datapath parameter, a data reference "
                             "or another step's output.")
            kind = "datapath-parameter"
        elif source in refs:
            kind = "data-reference"
        else:
            kind = "step-output"  # checked against the steps' outputs once every step is read
        result.append(StepInput(name, source, kind, _bind_mode(spec, here, ("mount", "download")),
                                _text(spec, "path_on_compute", here)))
    return tuple(result)


def _outputs(raw: object, path: str) -> tuple[StepOutput, ...]:
    if raw is None:
        return ()
    result = []
    for name, spec in _mapping(raw, path, "outputs").items():
        here = f"{path}.{name}"
        spec = _mapping(spec, here, "`destination` and `bind_mode`")
        _known_keys(spec, OUTPUT_KEYS, here)
        destination = _text(spec, "destination", here, required=True)
        if not STEP_NAME.match(destination):
            raise _error(f"{here}.destination", "is not a valid pipeline data name.",
                         "Use letters, digits, '_', '.' and '-'.")
        as_dataset = spec.get("as_dataset", False)
        if not isinstance(as_dataset, bool):
            raise _error(f"{here}.as_dataset", "must be true or false.", "Write true or false.")
        result.append(StepOutput(name, destination, _bind_mode(spec, here, ("mount", "upload")),
                                 _text(spec, "datastore", here), _text(spec, "path_on_compute", here), as_dataset))
    return tuple(result)


def _step_parameters(raw: object, path: str, params: Mapping[str, PipelineParameter]) -> tuple[StepParameter, ...]:
    if raw is None:
        return ()
    result = []
    for name, value in _mapping(raw, path, "parameters").items():
        here = f"{path}.{name}"
        if isinstance(value, dict):
            _known_keys(value, frozenset({"source"}), here)
            source = _text(value, "source", here, required=True)
            if source not in params:
                raise _error(f"{here}.source", f"names '{source}', which is not a pipeline parameter.",
                             "Declare it under `pipeline.parameters`" + (
                                 " (declared: " + ", ".join(params) + ")." if params else "."))
            if params[source].type == "datapath":
                raise _error(f"{here}.source", f"names datapath parameter '{source}'.",
                             "Use a datapath parameter as a step input (`inputs: NAME: source:`), not a parameter.")
            result.append(StepParameter(name, source=source))
        elif isinstance(value, list) or value is None:
            raise _error(here, f"must be a value or `source: PARAMETER`, not {_kind(value)}.",
                         "Write a value, or `source:` naming a pipeline parameter.")
        else:
            result.append(StepParameter(name, value=value))
    return tuple(result)


def _arguments(raw: object, path: str, inputs: tuple[StepInput, ...], outputs: tuple[StepOutput, ...],
               parameters: tuple[StepParameter, ...]) -> tuple[Argument, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _error(path, f"must be a list, not {_kind(raw)}.", "Write the arguments as a YAML list (`- '--flag'`).")
    known = {"input": {i.name for i in inputs}, "output": {o.name for o in outputs},
             "parameter": {p.name for p in parameters}}
    declared = {"input": "inputs", "output": "outputs", "parameter": "parameters"}
    result = []
    for index, item in enumerate(raw):
        here = f"{path}[{index}]"
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise _error(here, f"must be text or a number, not {_kind(item)}.", "Quote the argument.")
        text = str(item)
        prefix, sep, name = text.partition(":")
        if sep and prefix in known:
            if name not in known[prefix]:
                names = ", ".join(sorted(known[prefix])) or "none"
                raise _error(here, f"refers to {prefix} '{name}', which the step does not declare.",
                             f"Declare it under the step's `{declared[prefix]}` (declared: {names}).")
            result.append(Argument(prefix, name))
        elif sep and prefix == "side_input":
            raise _error(here, "uses `side_input:`, which only ParallelRunStep reads.", "Use `input:` instead.")
        else:
            result.append(Argument("literal", text))
    return tuple(result)


def _check_data_flow(steps: list[Step], params: Mapping[str, PipelineParameter],
                     refs: Mapping[str, DataReference]) -> None:
    producers: dict[str, str] = {}
    for step in steps:
        for out in step.outputs:
            if out.destination in producers:
                raise _error(f"pipeline.steps.{step.key}.outputs.{out.name}.destination",
                             f"is '{out.destination}', which step '{producers[out.destination]}' writes too.",
                             "Give every output its own destination name.")
            if out.destination in params or out.destination in refs:
                raise _error(f"pipeline.steps.{step.key}.outputs.{out.name}.destination",
                             f"is '{out.destination}', the name of a pipeline parameter or data reference.",
                             "Give the output another destination name.")
            producers[out.destination] = step.key
    for step in steps:
        for item in step.inputs:
            if item.kind == "step-output" and item.source not in producers:
                choices = sorted({*producers, *refs, *(p for p in params if params[p].type == "datapath")})
                raise _error(f"pipeline.steps.{step.key}.inputs.{item.name}.source",
                             f"is '{item.source}', which no step writes and no data reference or datapath "
                             "parameter names.", "Use one of: " + (", ".join(choices) or "(none declared)") + ".")
            if item.kind == "step-output" and producers[item.source] == step.key:
                raise _error(f"pipeline.steps.{step.key}.inputs.{item.name}.source",
                             f"is '{item.source}', which this same step writes.", "A step cannot read its own output.")


def _dependency_order(steps: list[Step]) -> tuple[Step, ...]:
    """Kahn's order, stable in file order; a cycle is reported with the steps on it."""
    producers = {out.destination: step.key for step in steps for out in step.outputs}
    needs = {s.key: {producers[i.source] for i in s.inputs if i.kind == "step-output"} for s in steps}
    ordered: list[Step] = []
    done: set[str] = set()
    remaining = list(steps)
    while remaining:
        ready = [s for s in remaining if needs[s.key] <= done]
        if not ready:
            cycle = _find_cycle({s.key: needs[s.key] - done for s in remaining})
            raise _error(f"pipeline.steps.{cycle[0]}.inputs", "closes a cycle: " + " → ".join(cycle) + ".",
                         "A step may only read outputs of steps that do not read its own outputs, directly or not.")
        for s in ready:
            ordered.append(s)
            done.add(s.key)
        remaining = [s for s in remaining if s.key not in done]
    return tuple(ordered)


def _find_cycle(needs: Mapping[str, set[str]]) -> list[str]:
    start = next(iter(needs))
    path: list[str] = [start]
    while True:
        nxt = sorted(needs[path[-1]])[0]
        if nxt in path:
            cycle = path[path.index(nxt):]
            # Report in data-flow order (producer → consumer) starting from the first step in the file.
            cycle.reverse()
            return [*cycle, cycle[0]]
        path.append(nxt)


# -- parameter assignments at submit time ---------------------------------------------------------------------
def resolve_parameters(definition: PipelineDefinition, assignments: Mapping[str, object],
                       field_name: str) -> dict[str, ParameterValue]:
    """The pipeline parameters' values for one run: defaults, overridden by assignments checked against types.

    Errors are InputError naming `field_name.PARAM` (the task input, or the HTTP body field)."""
    by_name = {p.name: p for p in definition.parameters}
    values: dict[str, ParameterValue] = {}
    for name, value in assignments.items():
        here = f"{field_name}.{name}"
        param = by_name.get(name)
        if param is None:
            declared = ", ".join(by_name) or "none"
            raise InputError(field_name, f"'{here}' names a parameter the pipeline does not declare.",
                             fix=f"Use one of the pipeline's parameters ({declared}).")
        if param.type == "datapath":
            raise InputError(field_name, f"'{here}' assigns datapath parameter '{name}'.",
                             fix="Datapath parameters keep their published default on the local engine.")
        try:
            coerced = coerce_value(param.type, value, here)
        except InputError as exc:
            raise InputError(field_name, exc.message.replace(f"Input '{INPUT_NAME}': ", ""), fix=exc.fix) from None
        assert coerced is not None and not isinstance(coerced, DataPath)
        values[name] = coerced
    for param in definition.parameters:
        if param.name not in values and param.type != "datapath":
            if param.default is None:
                raise InputError(field_name, f"Pipeline parameter '{param.name}' has no default and was not given.",
                                 fix=f"Give a value for '{param.name}' in {field_name}.")
            assert not isinstance(param.default, DataPath)
            values[param.name] = param.default
    return values


def argument_text(value: ParameterValue) -> str:
    """How a parameter value appears on a step's command line (Python's own spelling, as Azure's runtime)."""
    return str(value)
