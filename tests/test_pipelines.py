"""publish-pipeline and trigger-pipeline on the local workspace: engine, reuse, HTTP endpoint, waits and timeouts."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlops_ci.backends.local import processes, server
from tests.harness import Step, StepResult
from tests.test_pipeline_yaml import BAD

ROOT = Path(__file__).resolve().parents[1]

COPY = """
import argparse, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("--src", action="append", default=[])
parser.add_argument("--out")
parser.add_argument("--tag", default="")
args = parser.parse_args()
text = args.tag
for src in args.src:
    for dirpath, _, files in sorted(os.walk(src)):
        for name in sorted(files):
            text += "|" + open(os.path.join(dirpath, name)).read()
print("copy", os.path.basename(sys.argv[0]), args.tag, "param env:", os.environ.get("AML_PARAMETER_tag", "-"))
if args.out:
    with open(os.path.join(args.out, "data.txt"), "w") as handle:
        handle.write(text)
"""

FAIL = """
import sys
print("about to fail: boom-marker-7731")
sys.exit(3)
"""

SLEEP = """
import sys, time
print("sleeping", flush=True)
time.sleep(float(sys.argv[1]))
"""

CHAIN = """
pipeline:
  description: two branches joined
  parameters:
    left_tag: {type: string, default: L}
    right_tag: {type: string, default: R}
  steps:
    left:
      type: PythonScriptStep
      script_name: copy.py
      source_directory: src
      arguments: ['--out', 'output:out', '--tag', 'parameter:tag']
      parameters: {tag: {source: left_tag}}
      outputs: {out: {destination: left_data}}
    right:
      type: PythonScriptStep
      script_name: copy.py
      source_directory: src
      arguments: ['--out', 'output:out', '--tag', 'parameter:tag']
      parameters: {tag: {source: right_tag}}
      outputs: {out: {destination: right_data}}
    join:
      type: PythonScriptStep
      script_name: copy.py
      source_directory: src
      arguments: ['--src', 'input:a', '--src', 'input:b', '--out', 'output:out']
      inputs: {a: {source: left_data}, b: {source: right_data}}
      outputs: {out: {destination: joined}}
"""

FAILING = """
pipeline:
  steps:
    first:
      type: PythonScriptStep
      script_name: copy.py
      source_directory: src
      arguments: ['--out', 'output:out']
      outputs: {out: {destination: first_data}}
    broken:
      type: PythonScriptStep
      script_name: fail.py
      source_directory: src
      inputs: {i: {source: first_data}}
      outputs: {out: {destination: broken_data}}
    after:
      type: PythonScriptStep
      script_name: copy.py
      source_directory: src
      arguments: ['--src', 'input:i']
      inputs: {i: {source: broken_data}}
"""

SLOW = """
pipeline:
  steps:
    slow:
      type: PythonScriptStep
      script_name: sleep.py
      source_directory: src
      arguments: ['60']
"""


def fan_out(width: int, seconds: float) -> str:
    steps = "".join(f"""
    s{i}:
      type: PythonScriptStep
      script_name: sleep.py
      source_directory: src
      arguments: ['{seconds}', 'step{i}']
""" for i in range(width))
    return "pipeline:\n  steps:" + steps


@pytest.fixture
def ws(step: Step, tmp_path: Path) -> Iterator[Path]:
    """The workspace of one test, with the step scripts in repo/src; no server or run process outlives the test."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir()
    for name, text in (("copy.py", COPY), ("fail.py", FAIL), ("sleep.py", SLEEP), ("prep.py", ""),
                       ("train.py", "")):
        (repo / "src" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    root = repo / "ws"
    yield root
    stop_everything(root)


def stop_everything(root: Path) -> None:
    pids: list[tuple[int, str]] = []
    db = root / "workspace.db"
    if db.exists():
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute("SELECT id, pid, pid_start, status FROM pipeline_runs").fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            conn.close()
        for _run_id, pid, started, _status in rows:
            if pid:
                pids.append((pid, started))
                processes.stop_group(pid, started, grace=5)
    state = server.read_state(root) if (root / "server").is_dir() else None
    if state:
        server.stop(root)
        pids.append((state["pid"], state.get("pid_start", "")))
    for pid, started in pids:
        assert not processes.alive(pid, started), f"process {pid} outlived its test"


def write_yaml(ws: Path, text: str, name: str = "pipeline.yml") -> str:
    path = ws.parent / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return name


def publish(step: Step, ws: Path, text: str, *, actions: bool = False, **inputs: str) -> StepResult:
    name = write_yaml(ws, text)
    values = {"backend": "local", "workspace_dir": str(ws), "pipeline_yaml": name, "pipeline_name": "wine", **inputs}
    if actions:
        return step.action("publish-pipeline", **values)
    return step.cli("publish-pipeline", *(f"--{k.replace('_', '-')}={v}" for k, v in values.items()))


def trigger(step: Step, ws: Path, *, actions: bool = False, **inputs: str) -> StepResult:
    values = {"backend": "local", "workspace_dir": str(ws), "experiment_name": "wine-exp", **inputs}
    if actions:
        return step.action("trigger-pipeline", **values)
    return step.cli("trigger-pipeline", *(f"--{k.replace('_', '-')}={v}" for k, v in values.items()))


def show(step: Step, ws: Path, run_id: str) -> dict:  # type: ignore[type-arg]
    result = step.cli("runs", "show", run_id, "--json", "--workspace-dir", str(ws))
    assert result.status == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def token(ws: Path) -> str:
    return (ws / "server" / "token").read_text(encoding="ascii").strip()


# -- validation through main() ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "key_path", "word"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_pipeline_yaml_exits_2_naming_the_key_path(step: Step, ws: Path, text: str, key_path: str,
                                                       word: str) -> None:
    result = publish(step, ws, text, actions=True)
    assert result.status == 2, result.stdout
    errors = [a for a in result.annotations if a.startswith("::error")]
    assert len(errors) == 1 and "pipeline-yaml" in errors[0] and key_path in errors[0] and word in errors[0]
    assert "Traceback" not in result.everything()
    assert "bad input" in result.summary and key_path in result.summary
    assert not (ws / "server").exists(), "nothing is started for a definition that does not parse"


@pytest.mark.parametrize(
    ("inputs", "name"),
    [
        ({}, "pipeline-yaml"),
        ({"pipeline_yaml": "pipeline.yml", "run_id": "x", "experiment_name": "e"}, "pipeline-yaml"),
        ({"run_id": "x"}, "experiment-name"),
        ({"pipeline_yaml": "pipeline.yml", "pipeline_name": "bad name"}, "pipeline-name"),
        ({"pipeline_yaml": "pipeline.yml", "endpoint_name": "bad/name"}, "endpoint-name"),
        ({"pipeline_yaml": "missing.yml"}, "pipeline-yaml"),
    ],
    ids=["nothing", "yaml-and-run", "run-without-experiment", "bad-name", "bad-endpoint", "missing-file"],
)
def test_publish_input_combinations(step: Step, ws: Path, inputs: dict[str, str], name: str) -> None:
    write_yaml(ws, CHAIN)
    values = {"backend": "local", "workspace_dir": str(ws), "pipeline_name": "wine", **inputs}
    result = step.action("publish-pipeline", **values)
    assert result.status == 2 and f"'{name}'" in result.stdout


@pytest.mark.parametrize(
    ("inputs", "name"),
    [
        ({}, "pipeline-endpoint"),
        ({"pipeline_id": "a", "endpoint_name": "b"}, "pipeline-endpoint"),
        ({"pipeline_endpoint": "ftp://x/y"}, "pipeline-endpoint"),
        ({"pipeline_id": "a", "pipeline_version": "2"}, "pipeline-version"),
        ({"pipeline_endpoint": "http://127.0.0.1:9/x", "max_parallel_steps": "2"}, "max-parallel-steps"),
        ({"pipeline_id": "a", "max_parallel_steps": "0"}, "max-parallel-steps"),
        ({"pipeline_id": "a", "timeout_minutes": "soon"}, "timeout-minutes"),
        ({"pipeline_id": "a", "wait": "yes"}, "wait"),
        ({"pipeline_id": "a", "pipeline_parameters": "{broken"}, "pipeline-parameters"),
        ({"pipeline_id": "a", "experiment_name": ""}, "experiment-name"),
    ],
    ids=["no-target", "two-targets", "not-http", "version-with-id", "parallel-over-http", "parallel-zero",
         "timeout-word", "wait-word", "parameters-not-yaml", "no-experiment"],
)
def test_trigger_input_combinations(step: Step, ws: Path, inputs: dict[str, str], name: str) -> None:
    result = trigger(step, ws, actions=True, **inputs)
    assert result.status == 2 and f"'{name}'" in result.stdout, result.stdout


# -- the engine -----------------------------------------------------------------------------------------------------
def test_publish_then_trigger_by_id_runs_the_steps_in_order(step: Step, ws: Path) -> None:
    published = publish(step, ws, CHAIN, actions=True)
    assert published.status == 0, published.stdout
    out = published.outputs
    assert out["pipeline-version"] == "1" and out["endpoint-name"] == ""
    assert out["pipeline-endpoint"].startswith("http://127.0.0.1:")
    assert out["pipeline-endpoint"].endswith(f"/PipelineRuns/PipelineSubmit/{out['pipeline-id']}")
    assert "```mermaid" in published.summary and 's0["left"]' in published.summary
    assert "| `left_tag` | `L` |" in published.summary
    result = trigger(step, ws, actions=True, pipeline_id=out["pipeline-id"], pipeline_parameters="right_tag: RR")
    assert result.status == 0, result.stdout
    assert result.outputs["run-status"] == "Completed"
    run = show(step, ws, result.outputs["run-id"])
    assert [s["name"] for s in run["steps"]] == ["left", "right", "join"]
    assert run["parameters"] == {"left_tag": "L", "right_tag": "RR"}
    join = next(s for s in run["steps"] if s["name"] == "join")
    assert join["depends_on"] == ["left", "right"]
    left_end = max(s["finished_at"] for s in run["steps"] if s["name"] != "join")
    assert join["started_at"] >= left_end
    # Each step's log is shown in a group; parameters reach the script as arguments and AML_PARAMETER_ variables.
    assert "::group::step join: Completed" in result.stdout
    assert "copy copy.py RR param env: RR" in result.stdout
    assert "| `join` | ✅ Completed |" in result.summary and "class s2 completed" in result.summary
    joined = list((ws / "pipelines" / "data").glob("*/out/data.txt"))
    assert "|L|RR" in {p.read_text() for p in joined}


def test_a_failing_step_fails_the_run_and_the_task_and_downstream_steps_never_start(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, FAILING).outputs["pipeline-id"]
    result = trigger(step, ws, actions=True, pipeline_id=pipeline_id)
    assert result.status == 1, result.stdout
    assert result.outputs["run-status"] == "Failed" and result.outputs["run-id"]
    run = show(step, ws, result.outputs["run-id"])
    assert {s["name"]: s["status"] for s in run["steps"]} == {"first": "Completed", "broken": "Failed",
                                                              "after": "NotStarted"}
    assert next(s for s in run["steps"] if s["name"] == "broken")["exit_code"] == 3
    assert "Step 'broken' failed with exit status 3" in run["error"]
    errors = [a for a in result.annotations if a.startswith("::error")]
    assert len(errors) == 1 and "Failed" in errors[0]
    assert "boom-marker-7731" in result.stdout  # the log group
    assert "boom-marker-7731" in result.summary and "❌ Failed" in result.summary
    assert not (ws / "pipelines" / "runs" / run["id"] / "logs" / "after.log").exists()


def test_reuse_skips_unchanged_steps_and_reruns_only_what_depends_on_a_change(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, CHAIN).outputs["pipeline-id"]

    def run_with(params: str) -> dict[str, str]:
        result = trigger(step, ws, pipeline_id=pipeline_id, pipeline_parameters=params)
        assert result.status == 0, result.stderr
        return {s["name"]: s["reused_from"] for s in show(step, ws, result.outputs["run-id"])["steps"]}

    first = run_with("")
    assert first == {"left": "", "right": "", "join": ""}
    second = run_with("")
    assert all(second.values()), "nothing changed: every step is reused"
    third = run_with("right_tag: changed")
    assert third["left"] and not third["right"] and not third["join"]
    # Back to the first values: the first run's outputs are reused again.
    fourth = run_with("")
    assert all(fourth.values())
    # A change in a step's source snapshot reruns it and what reads it, once republished.
    (ws.parent / "src" / "copy.py").write_text((ws.parent / "src" / "copy.py").read_text() + "\n# changed\n")
    republished = publish(step, ws, CHAIN).outputs["pipeline-id"]
    result = trigger(step, ws, pipeline_id=republished)
    steps = {s["name"]: s["reused_from"] for s in show(step, ws, result.outputs["run-id"])["steps"]}
    assert steps == {"left": "", "right": "", "join": ""}


def test_reused_outputs_are_read_only(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, CHAIN).outputs["pipeline-id"]
    trigger(step, ws, pipeline_id=pipeline_id)
    for path in (ws / "pipelines" / "data").glob("*/out/data.txt"):
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_dataset_inputs_come_from_the_registry_pinned_at_publish_time(step: Step, ws: Path) -> None:
    data = ws.parent / "wine.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    registered = step.cli("register-dataset", "--backend", "local", "--workspace-dir", str(ws), "--dataset-path",
                          str(data), "--dataset-name", "wine-data")
    assert registered.status == 0, registered.stderr
    text = """
    pipeline:
      data_references: {wine: {dataset_name: wine-data}}
      steps:
        prep:
          type: PythonScriptStep
          script_name: copy.py
          source_directory: src
          arguments: ['--src', 'input:raw', '--out', 'output:out']
          inputs: {raw: {source: wine}}
          outputs: {out: {destination: prepared}}
    """
    pipeline_id = publish(step, ws, text).outputs["pipeline-id"]
    first = trigger(step, ws, pipeline_id=pipeline_id)
    assert first.status == 0 and "copy copy.py" in first.stderr
    output = next((ws / "pipelines" / "data").glob("*/out/data.txt"))
    assert output.read_text() == "|a,b\n1,2\n"
    data.write_text("a,b\n3,4\n", encoding="utf-8")
    step.cli("register-dataset", "--backend", "local", "--workspace-dir", str(ws), "--dataset-path", str(data),
             "--dataset-name", "wine-data")
    same = trigger(step, ws, pipeline_id=pipeline_id)
    assert all(s["reused_from"] for s in show(step, ws, same.outputs["run-id"])["steps"])
    repinned = publish(step, ws, text).outputs["pipeline-id"]
    rerun = trigger(step, ws, pipeline_id=repinned)
    assert not any(s["reused_from"] for s in show(step, ws, rerun.outputs["run-id"])["steps"])
    assert "|a,b\n3,4\n" in {p.read_text() for p in (ws / "pipelines" / "data").glob("*/out/data.txt")}


def test_independent_steps_run_in_parallel_up_to_max_parallel_steps(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, fan_out(4, 0.4)).outputs["pipeline-id"]
    result = trigger(step, ws, pipeline_id=pipeline_id, max_parallel_steps="2")
    assert result.status == 0, result.stderr
    steps = show(step, ws, result.outputs["run-id"])["steps"]
    events = sorted([(s["started_at"], 1) for s in steps] + [(s["finished_at"], -1) for s in steps],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2


def test_timeout_exits_3_with_the_run_id_and_leaves_the_run_running(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, SLOW).outputs["pipeline-id"]
    started = time.monotonic()
    result = trigger(step, ws, actions=True, pipeline_id=pipeline_id, timeout_minutes="0.02")
    assert result.status == 3, result.stdout
    assert time.monotonic() - started < 20
    run_id = result.outputs["run-id"]
    assert run_id and result.outputs["run-status"] in ("NotStarted", "Running")
    assert "timed out" in result.summary and run_id in result.summary
    assert show(step, ws, run_id)["status"] == "Running"
    from mlops_ci.backends.local.backend import LocalBackend
    from mlops_ci.backends.local.workspace import LocalWorkspace
    from mlops_ci.runner import Runner

    canceled = LocalBackend(LocalWorkspace(ws), Runner({})).cancel_pipeline_run(run_id)
    assert canceled.status == "Canceled" and canceled.steps[0].status == "Canceled"


def test_wait_false_returns_at_once(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, SLOW).outputs["pipeline-id"]
    result = trigger(step, ws, pipeline_id=pipeline_id, wait="false")
    assert result.status == 0 and result.outputs["run-status"] in ("NotStarted", "Running")


def test_a_killed_engine_turns_the_run_failed(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, SLOW).outputs["pipeline-id"]
    run_id = trigger(step, ws, pipeline_id=pipeline_id, wait="false").outputs["run-id"]
    deadline = time.monotonic() + 10
    while show(step, ws, run_id)["status"] != "Running" and time.monotonic() < deadline:
        time.sleep(0.05)
    conn = sqlite3.connect(ws / "workspace.db")
    pid, started = conn.execute("SELECT pid, pid_start FROM pipeline_runs WHERE id = ?", (run_id,)).fetchone()
    conn.close()
    os.killpg(pid, 9)
    deadline = time.monotonic() + 5
    while processes.alive(pid, started) and time.monotonic() < deadline:
        time.sleep(0.02)
    run = show(step, ws, run_id)
    assert run["status"] == "Failed" and "ended before the run finished" in run["error"]


# -- endpoints, versions and earlier runs ---------------------------------------------------------------------------
def test_endpoint_default_version_moves_and_older_versions_stay_addressable(step: Step, ws: Path) -> None:
    v1 = publish(step, ws, CHAIN, endpoint_name="wine-ep")
    v2 = publish(step, ws, fan_out(1, 0), endpoint_name="wine-ep")
    assert (v1.outputs["pipeline-version"], v2.outputs["pipeline-version"]) == ("1", "2")
    assert v1.outputs["pipeline-endpoint"] == v2.outputs["pipeline-endpoint"]
    assert "/PipelineEndpointSubmit/Id/" in v1.outputs["pipeline-endpoint"]
    default = trigger(step, ws, endpoint_name="wine-ep")
    assert [s["name"] for s in show(step, ws, default.outputs["run-id"])["steps"]] == ["s0"]
    older = trigger(step, ws, endpoint_name="wine-ep", pipeline_version="1")
    assert [s["name"] for s in show(step, ws, older.outputs["run-id"])["steps"]] == ["left", "right", "join"]
    by_id = trigger(step, ws, pipeline_id=v1.outputs["pipeline-id"])
    assert by_id.status == 0
    over_http = trigger(step, ws, pipeline_endpoint=v1.outputs["pipeline-endpoint"], pipeline_version="1")
    assert [s["name"] for s in show(step, ws, over_http.outputs["run-id"])["steps"]] == ["left", "right", "join"]
    duplicate = publish(step, ws, CHAIN, endpoint_name="wine-ep", pipeline_version="2")
    assert duplicate.status == 2 and "'2'" in duplicate.stderr
    missing = trigger(step, ws, endpoint_name="wine-ep", pipeline_version="9")
    assert missing.status == 2 and "no version '9'" in missing.stderr


def test_publish_the_pipeline_of_an_earlier_run(step: Step, ws: Path) -> None:
    first = publish(step, ws, CHAIN)
    run_id = trigger(step, ws, pipeline_id=first.outputs["pipeline-id"]).outputs["run-id"]
    again = step.cli("publish-pipeline", "--backend=local", f"--workspace-dir={ws}", f"--run-id={run_id}",
                     "--experiment-name=wine-exp", "--pipeline-name=from-run", "--pipeline-version=2.0")
    assert again.status == 0, again.stderr
    assert again.outputs["pipeline-version"] == "2.0" and again.outputs["pipeline-id"] != first.outputs["pipeline-id"]
    rerun = trigger(step, ws, pipeline_id=again.outputs["pipeline-id"])
    assert all(s["reused_from"] for s in show(step, ws, rerun.outputs["run-id"])["steps"])
    wrong = step.cli("publish-pipeline", "--backend=local", f"--workspace-dir={ws}", f"--run-id={run_id}",
                     "--experiment-name=other", "--pipeline-name=x")
    assert wrong.status == 2 and "run-id" in wrong.stderr


# -- the HTTP endpoint ------------------------------------------------------------------------------------------------
@pytest.fixture
def endpoint(step: Step, ws: Path) -> tuple[str, str]:
    published = publish(step, ws, CHAIN)
    assert published.status == 0, published.stderr
    return published.outputs["pipeline-endpoint"], token(ws)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "no Authorization header"),
        ({"Authorization": "Bearer"}, "malformed"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "malformed"),
        ({"Authorization": "Bearer not-the-token"}, "not this workspace's token"),
        ({"Authorization": "bearer  "}, "malformed"),
    ],
    ids=["no-header", "no-token", "basic", "wrong-token", "blank-token"],
)
def test_endpoint_refuses_without_a_valid_token(endpoint: tuple[str, str], headers: dict[str, str],
                                                fragment: str) -> None:
    url, _ = endpoint
    reply = requests.post(url, headers=headers, json={"ExperimentName": "x"}, timeout=10)
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert fragment in reply.json()["Error"]["Message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ExperimentName"),
        ({"ExperimentName": ""}, "ExperimentName"),
        ({"ExperimentName": "bad name!"}, "ExperimentName"),
        ({"ExperimentName": 7}, "ExperimentName"),
        ({"ExperimentName": "e", "ParameterAssignments": [1]}, "ParameterAssignments"),
        ({"ExperimentName": "e", "ParameterAssignments": {"nope": "1"}}, "ParameterAssignments.nope"),
        ({"ExperimentName": "e", "ParameterAssignments": {"left_tag": {"a": 1}}}, "ParameterAssignments.left_tag"),
        ({"ExperimentName": "e", "Tags": {"a": 1}}, "Tags"),
        ({"ExperimentName": "e", "Description": ["x"]}, "Description"),
        ({"ExperimentName": "e", "DataPathAssignments": {"d": {}}}, "DataPathAssignments"),
        ("not json", "JSON"),
        ([1, 2], "JSON object"),
    ],
    ids=["empty", "blank-experiment", "bad-experiment", "number-experiment", "parameters-list", "unknown-parameter",
         "nested-parameter", "tag-number", "description-list", "datapath-assignments", "not-json", "json-list"],
)
def test_endpoint_answers_400_naming_the_bad_field(endpoint: tuple[str, str], body: object, field: str) -> None:
    url, secret = endpoint
    headers = {"Authorization": f"Bearer {secret}"}
    if isinstance(body, str):
        reply = requests.post(url, headers=headers, data=body, timeout=10)
    else:
        reply = requests.post(url, headers=headers, json=body, timeout=10)
    assert reply.status_code == 400, reply.text
    assert field in reply.json()["Error"]["Message"]


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        ("POST", "/PipelineRuns/PipelineSubmit/00000000-0000-0000-0000-000000000000", 404),
        ("POST", "/PipelineRuns/PipelineEndpointSubmit/Id/00000000-0000-0000-0000-000000000000", 404),
        ("GET", "/PipelineRuns/00000000-0000-0000-0000-000000000000", 404),
        ("GET", "/Pipelines/00000000-0000-0000-0000-000000000000", 404),
        ("GET", "/nothing/here", 404),
        ("GET", "/PipelineRuns/PipelineSubmit/00000000-0000-0000-0000-000000000000", 405),
        ("DELETE", "/PipelineRuns/00000000-0000-0000-0000-000000000000", 405),
    ],
    ids=["unknown-pipeline", "unknown-endpoint", "unknown-run", "unknown-pipeline-get", "unknown-route",
         "get-on-submit", "delete-run"],
)
def test_endpoint_404_and_405(endpoint: tuple[str, str], method: str, suffix: str, status: int) -> None:
    url, secret = endpoint
    base = url.split("/PipelineRuns/")[0]
    reply = requests.request(method, base + suffix, headers={"Authorization": f"Bearer {secret}"},
                             json={"ExperimentName": "e"}, timeout=10)
    assert reply.status_code == status and "Error" in reply.json()


SNIPPET = """
import sys, time
import requests
rest_endpoint, token = sys.argv[1], sys.stdin.read().strip()
auth_header = {"Authorization": f"Bearer {token}"}
started = time.perf_counter()
response = requests.post(rest_endpoint, headers=auth_header, json={"ExperimentName": "practical-ml-experiment-1"}); run_id = response.json().get('Id')
print(run_id, response.json()["RunUrl"], f"{(time.perf_counter() - started) * 1000:.1f}")
"""


def test_the_source_material_snippet_triggers_a_run_from_another_process(endpoint: tuple[str, str]) -> None:
    url, secret = endpoint
    done = subprocess.run([sys.executable, "-c", SNIPPET, url], input=secret, capture_output=True, text=True,
                          timeout=60, check=True)
    run_id, run_url, _millis = done.stdout.split()
    assert len(run_id) == 36 and secret not in done.stdout + done.stderr
    headers = {"Authorization": f"Bearer {secret}"}
    deadline = time.monotonic() + 30
    while True:
        run = requests.get(run_url, headers=headers, timeout=10).json()
        if run["Status"] in ("Completed", "Failed", "Canceled") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert run["Status"] == "Completed" and run["ExperimentName"] == "practical-ml-experiment-1"
    assert [s["Name"] for s in run["Steps"]] == ["left", "right", "join"]
    assert all(s["Status"] == "Completed" and s["StartTime"] and s["EndTime"] for s in run["Steps"])
    assert requests.get(run_url, timeout=10).status_code == 401


def test_trigger_over_http_masks_the_token(step: Step, ws: Path, endpoint: tuple[str, str]) -> None:
    url, secret = endpoint
    result = trigger(step, ws, actions=True, pipeline_endpoint=url)
    assert result.status == 0, result.stdout
    assert f"::add-mask::{secret}" in result.stdout.splitlines()
    assert secret not in result.everything().replace(f"::add-mask::{secret}", "")
    assert result.outputs["run-status"] == "Completed"


def test_token_command_and_file_permissions(step: Step, ws: Path, endpoint: tuple[str, str]) -> None:
    _, secret = endpoint
    printed = step.cli("token", "--workspace-dir", str(ws))
    assert printed.status == 0 and printed.stdout.strip() == secret
    assert stat.S_IMODE((ws / "server" / "token").stat().st_mode) == 0o600
    in_actions = step.cli("token", "--workspace-dir", str(ws), env={"GITHUB_ACTIONS": "true"})
    assert in_actions.stdout.splitlines() == [f"::add-mask::{secret}", secret]  # the runner shows it as ***


def test_a_stale_state_file_is_ignored_and_serve_stop_is_idempotent(step: Step, ws: Path) -> None:
    first = publish(step, ws, CHAIN)
    state = server.read_state(ws)
    assert state is not None
    stopped = step.cli("serve", "--stop", "--workspace-dir", str(ws))
    assert stopped.status == 0 and "Stopped" in stopped.stdout and not processes.alive(state["pid"])
    again = step.cli("serve", "--stop", "--workspace-dir", str(ws))
    assert again.status == 0 and "No local workspace server" in again.stdout
    # A state file left by a killed server, naming a dead pid: the next publish starts a fresh server.
    (ws / "server" / "state.json").write_text(json.dumps({**state, "pid": 2 ** 22 + 17}), encoding="utf-8")
    second = publish(step, ws, CHAIN)
    assert second.status == 0, second.stderr
    new_state = server.read_state(ws)
    assert new_state is not None and new_state["pid"] != state["pid"]
    # It came back on the same port, so the URL published first still works.
    assert new_state["port"] == state["port"]
    reply = requests.post(first.outputs["pipeline-endpoint"], headers={"Authorization": f"Bearer {token(ws)}"},
                          json={"ExperimentName": "e"}, timeout=10)
    assert reply.status_code == 200 and reply.json()["Id"]


def test_runs_list_and_show_for_people(step: Step, ws: Path) -> None:
    pipeline_id = publish(step, ws, FAILING).outputs["pipeline-id"]
    run_id = trigger(step, ws, pipeline_id=pipeline_id).outputs["run-id"]
    listed = step.cli("runs", "list", "--workspace-dir", str(ws))
    assert listed.status == 0 and run_id in listed.stdout and "Failed" in listed.stdout
    shown = step.cli("runs", "show", run_id, "--logs", "--workspace-dir", str(ws))
    assert "broken" in shown.stdout and "boom-marker-7731" in shown.stdout and "NotStarted" in shown.stdout
    missing = step.cli("runs", "show", "nope", "--workspace-dir", str(ws))
    assert missing.status == 2 and "nope" in missing.stderr


def test_real_command_in_a_subprocess_does_not_import_azureml(ws: Path, tmp_path: Path) -> None:
    write_yaml(ws, CHAIN)
    env = {**os.environ, "PATH": os.environ.get("PATH", "")}
    env.pop("GITHUB_ACTIONS", None)
    script = (
        "import sys\nfrom mlops_ci.cli import main\n"
        f"status = main(['publish-pipeline', '--backend', 'local', '--workspace-dir', {str(ws)!r}, "
        "'--pipeline-yaml', 'pipeline.yml', '--pipeline-name', 'wine', '--json'])\n"
        "assert not [m for m in sys.modules if m.startswith('azureml')], 'azureml was imported'\n"
        "sys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ws.parent, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    cli = subprocess.run([sys.executable, str(ROOT / "entrypoint.py"), "trigger-pipeline", "--backend", "local",
                          "--workspace-dir", str(ws), "--pipeline-endpoint", outputs["pipeline-endpoint"],
                          "--experiment-name", "sub", "--json"], cwd=ws.parent, env=env, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["run-status"] == "Completed"
