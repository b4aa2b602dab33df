"""Azure ML v1 pipeline YAML: the subset the local engine runs, and a table of bad definitions with their key paths."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlops_ci.errors import InputError
from mlops_ci.pipelineyaml import (
    DataPath,
    PipelineDefinition,
    load_pipeline_yaml,
    parse_pipeline,
    resolve_parameters,
)

GOOD = """
pipeline:
  description: wine training
  parameters:
    alpha: {type: float, default: 0.5}
    rows: {type: int, default: "10"}
    label: {type: string, default: target}
    fast: {type: bool}
    raw_path:
      type: datapath
      default: {datastore: workspaceblobstore, path_on_datastore: raw/wine.csv}
  data_references:
    wine: {dataset_name: wine-data}
    blob: {datastore: workspaceblobstore, path_on_datastore: folder}
  default_compute: cpu-cluster
  steps:
    train:
      type: PythonScriptStep
      name: Train the model
      script_name: train.py
      source_directory: src
      compute: gpu-cluster
      arguments: ['--data', 'input:prepared', '--alpha', 'parameter:a', '--out', 'output:model', 7]
      parameters: {a: {source: alpha}, fixed: 3}
      inputs: {prepared: {source: prepared_data, bind_mode: download}}
      outputs: {model: {destination: model_dir, bind_mode: upload}}
    prep:
      python_script_step:
        script_name: prep.py
        source_directory: src
        allow_reuse: false
      arguments: ['--raw', 'input:raw', '--blob', 'input:blob', '--extra', 'input:extra', '--out', 'output:out']
      inputs:
        raw: {source: wine}
        blob: {source: blob}
        extra: {source: raw_path}
      outputs: {out: {destination: prepared_data}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "prep.py").write_text("print('prep')\n", encoding="utf-8")
    (tmp_path / "src" / "train.py").write_text("print('train')\n", encoding="utf-8")
    return tmp_path


def write(repo: Path, text: str) -> Path:
    path = repo / "pipeline.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_definition_is_read_in_dependency_order(repo: Path) -> None:
    definition = load_pipeline_yaml(write(repo, GOOD), repo)
    assert [s.key for s in definition.steps] == ["prep", "train"]
    assert definition.edges() == (("prep", "train", "prepared_data"),)
    train = definition.step("train")
    assert train.name == "Train the model" and train.compute == "gpu-cluster"
    assert definition.step("prep").compute == "cpu-cluster" and definition.step("prep").allow_reuse is False
    assert [(a.kind, a.value) for a in train.arguments][-3:] == [("literal", "--out"), ("output", "model"),
                                                                 ("literal", "7")]
    assert {i.name: i.kind for i in definition.step("prep").inputs} == {
        "raw": "data-reference", "blob": "data-reference", "extra": "datapath-parameter"}
    params = {p.name: p.default for p in definition.parameters}
    assert params == {"alpha": 0.5, "rows": 10, "label": "target", "fast": False,
                      "raw_path": DataPath("workspaceblobstore", "raw/wine.csv")}
    assert any("python_script_step" in note for note in definition.notes)
    assert PipelineDefinition.from_json(definition.to_json()) == definition


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ({}, {"alpha": 0.5, "rows": 10, "label": "target", "fast": False}),
        ({"alpha": "0.25", "rows": 3, "fast": "true"}, {"alpha": 0.25, "rows": 3, "label": "target", "fast": True}),
        ({"label": 5}, {"alpha": 0.5, "rows": 10, "label": "5", "fast": False}),
    ],
    ids=["defaults", "typed-overrides", "number-as-string"],
)
def test_parameter_assignments_are_typed(repo: Path, assignments: dict[str, object],
                                         expected: dict[str, object]) -> None:
    definition = load_pipeline_yaml(write(repo, GOOD), repo)
    assert resolve_parameters(definition, assignments, "ParameterAssignments") == expected


@pytest.mark.parametrize(
    ("assignments", "fragment"),
    [
        ({"nope": 1}, "ParameterAssignments.nope"),
        ({"rows": "many"}, "ParameterAssignments.rows"),
        ({"rows": 2.5}, "ParameterAssignments.rows"),
        ({"fast": "yes"}, "ParameterAssignments.fast"),
        ({"alpha": [1]}, "ParameterAssignments.alpha"),
        ({"raw_path": "x"}, "ParameterAssignments.raw_path"),
    ],
    ids=["unknown", "int-text", "int-fraction", "bool-word", "list", "datapath"],
)
def test_bad_parameter_assignments_name_the_field(repo: Path, assignments: dict[str, object], fragment: str) -> None:
    definition = load_pipeline_yaml(write(repo, GOOD), repo)
    with pytest.raises(InputError) as caught:
        resolve_parameters(definition, assignments, "ParameterAssignments")
    assert fragment in caught.value.message and caught.value.fix


STEP = """
    a:
      type: PythonScriptStep
      script_name: prep.py
      source_directory: src
"""

# (id, YAML, key path the error must name, a word of the problem)
BAD: list[tuple[str, str, str, str]] = [
    ("not-yaml", "pipeline: [unclosed", "", "line"),
    ("no-pipeline", "steps: {}", "", "pipeline:"),
    ("no-steps", "pipeline:\n  description: x\n", "pipeline.steps", "missing"),
    ("unknown-top-key", "pipeline:\n  stepz: {}\n", "pipeline.stepz", "not a key"),
    ("duplicate-key", "pipeline:\n  steps:" + STEP + STEP, "", "twice"),
    ("unknown-step-type", "pipeline:\n  steps:\n    a:\n      type: ShellStep\n      script_name: prep.py\n",
     "pipeline.steps.a.type", "ShellStep"),
    ("unsupported-step-type", "pipeline:\n  steps:\n    a:\n      type: DatabricksStep\n      notebook_path: x\n",
     "pipeline.steps.a.type", "DatabricksStep"),
    ("legacy-module-step", "pipeline:\n  steps:\n    a:\n      module: {name: m}\n", "pipeline.steps.a.module",
     "ModuleStep"),
    ("no-type", "pipeline:\n  steps:\n    a:\n      script_name: prep.py\n      source_directory: src\n",
     "pipeline.steps.a.type", "missing"),
    ("missing-script-name", "pipeline:\n  steps:\n    a:\n      type: PythonScriptStep\n      source_directory: src\n",
     "pipeline.steps.a.script_name", "missing"),
    ("missing-script-file", "pipeline:\n  steps:\n    a:\n      type: PythonScriptStep\n      script_name: nope.py\n"
     "      source_directory: src\n", "pipeline.steps.a.script_name", "nope.py"),
    ("missing-source-dir", "pipeline:\n  steps:\n    a:\n      type: PythonScriptStep\n      script_name: prep.py\n"
     "      source_directory: gone\n", "pipeline.steps.a.source_directory", "gone"),
    ("no-source-dir", "pipeline:\n  steps:\n    a:\n      type: PythonScriptStep\n      script_name: prep.py\n",
     "pipeline.steps.a.source_directory", "missing"),
    ("script-escapes", "pipeline:\n  steps:\n    a:\n      type: PythonScriptStep\n      script_name: ../x.py\n"
     "      source_directory: src\n", "pipeline.steps.a.script_name", "outside"),
    ("step-key-typo", "pipeline:\n  steps:" + STEP + "      allow_resuse: true\n", "pipeline.steps.a.allow_resuse",
     "not a key"),
    ("allow-reuse-not-bool", "pipeline:\n  steps:" + STEP + "      allow_reuse: 'yes'\n",
     "pipeline.steps.a.allow_reuse", "true or false"),
    ("param-unknown-type", "pipeline:\n  parameters:\n    n: {type: list}\n  steps:" + STEP,
     "pipeline.parameters.n.type", "list"),
    ("param-no-type", "pipeline:\n  parameters:\n    n: {default: 3}\n  steps:" + STEP,
     "pipeline.parameters.n.type", "missing"),
    ("param-bad-int", "pipeline:\n  parameters:\n    n: {type: int, default: many}\n  steps:" + STEP,
     "pipeline.parameters.n.default", "many"),
    ("param-bad-float", "pipeline:\n  parameters:\n    n: {type: float, default: .nan}\n  steps:" + STEP,
     "pipeline.parameters.n.default", "finite"),
    ("param-bad-bool", "pipeline:\n  parameters:\n    n: {type: bool, default: maybe}\n  steps:" + STEP,
     "pipeline.parameters.n.default", "maybe"),
    ("datapath-incomplete", "pipeline:\n  parameters:\n    d: {type: datapath, default: {datastore: s}}\n"
     "  steps:" + STEP, "pipeline.parameters.d.default.path_on_datastore", "missing"),
    ("step-param-unknown-source", "pipeline:\n  steps:" + STEP + "      parameters: {x: {source: nope}}\n",
     "pipeline.steps.a.parameters.x.source", "nope"),
    ("argument-unknown-parameter", "pipeline:\n  steps:" + STEP + "      arguments: ['--n', 'parameter:n']\n",
     "pipeline.steps.a.arguments[1]", "parameter 'n'"),
    ("argument-unknown-input", "pipeline:\n  steps:" + STEP + "      arguments: ['--a', '--b', 'input:raw']\n",
     "pipeline.steps.a.arguments[2]", "input 'raw'"),
    ("argument-unknown-output", "pipeline:\n  steps:" + STEP + "      arguments: ['output:model']\n",
     "pipeline.steps.a.arguments[0]", "output 'model'"),
    ("argument-mapping", "pipeline:\n  steps:" + STEP + "      arguments: [{a: 1}]\n",
     "pipeline.steps.a.arguments[0]", "mapping"),
    ("arguments-not-list", "pipeline:\n  steps:" + STEP + "      arguments: '--x 1'\n",
     "pipeline.steps.a.arguments", "list"),
    ("side-input", "pipeline:\n  steps:" + STEP + "      arguments: ['side_input:x']\n",
     "pipeline.steps.a.arguments[0]", "ParallelRunStep"),
    ("input-unknown-source", "pipeline:\n  steps:" + STEP + "      inputs: {raw: {source: nowhere}}\n",
     "pipeline.steps.a.inputs.raw.source", "nowhere"),
    ("input-no-source", "pipeline:\n  steps:" + STEP + "      inputs: {raw: {bind_mode: mount}}\n",
     "pipeline.steps.a.inputs.raw.source", "missing"),
    ("input-bad-bind-mode", "pipeline:\n  data_references: {w: {dataset_name: w}}\n  steps:" + STEP +
     "      inputs: {raw: {source: w, bind_mode: upload}}\n", "pipeline.steps.a.inputs.raw.bind_mode", "upload"),
    ("input-from-string-param", "pipeline:\n  parameters: {s: {type: string, default: x}}\n  steps:" + STEP +
     "      inputs: {raw: {source: s}}\n", "pipeline.steps.a.inputs.raw.source", "datapath"),
    ("output-no-destination", "pipeline:\n  steps:" + STEP + "      outputs: {out: {bind_mode: mount}}\n",
     "pipeline.steps.a.outputs.out.destination", "missing"),
    ("reads-own-output", "pipeline:\n  steps:" + STEP + "      inputs: {i: {source: d}}\n      outputs: {o: "
     "{destination: d}}\n", "pipeline.steps.a.inputs.i.source", "same step"),
    ("duplicate-output", "pipeline:\n  steps:" + STEP + "      outputs: {o: {destination: d}}\n    b:\n"
     "      type: PythonScriptStep\n      script_name: train.py\n      source_directory: src\n"
     "      outputs: {o: {destination: d}}\n", "pipeline.steps.b.outputs.o.destination", "writes too"),
    ("cycle", "pipeline:\n  steps:\n    a:\n      type: PythonScriptStep\n      script_name: prep.py\n"
     "      source_directory: src\n      inputs: {i: {source: db}}\n      outputs: {o: {destination: da}}\n"
     "    b:\n      type: PythonScriptStep\n      script_name: train.py\n      source_directory: src\n"
     "      inputs: {i: {source: da}}\n      outputs: {o: {destination: db}}\n", "pipeline.steps.", "cycle"),
    ("sql-reference", "pipeline:\n  data_references: {t: {datastore: sql, sql_table: x}}\n  steps:" + STEP,
     "pipeline.data_references.t", "SQL"),
    ("reference-without-target", "pipeline:\n  data_references: {t: {path_on_datastore: x}}\n  steps:" + STEP,
     "pipeline.data_references.t", "neither"),
    ("missing-runconfig", "pipeline:\n  steps:" + STEP + "      runconfig: rc.yml\n", "pipeline.steps.a.runconfig",
     "rc.yml"),
    ("steps-is-list", "pipeline:\n  steps: [a, b]\n", "pipeline.steps", "mapping"),
]


@pytest.mark.parametrize(("text", "key_path", "word"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_definitions_name_the_key_path(repo: Path, text: str, key_path: str, word: str) -> None:
    with pytest.raises(InputError) as caught:
        load_pipeline_yaml(write(repo, text), repo)
    error = caught.value
    assert error.input_name == "pipeline-yaml"
    assert error.message.startswith("Input 'pipeline-yaml': ")
    if key_path:
        assert f"`{key_path}" in error.message
    assert word in error.message
    assert error.fix and "\n" not in error.message


def test_cycle_names_every_step_on_it(repo: Path) -> None:
    text = next(case[1] for case in BAD if case[0] == "cycle")
    with pytest.raises(InputError) as caught:
        load_pipeline_yaml(write(repo, text), repo)
    assert "a → b → a" in caught.value.message or "b → a → b" in caught.value.message


def test_parse_refuses_a_document_that_is_not_a_mapping(repo: Path) -> None:
    with pytest.raises(InputError, match="pipeline:"):
        parse_pipeline(["pipeline"], repo)
