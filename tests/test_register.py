"""register-model and register-dataset end to end through main(), the CLI and entrypoint.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_ci.runner import parse_output_file
from tests.harness import Step

ROOT = Path(__file__).resolve().parents[1]


def test_register_model_in_actions_writes_outputs_summary_and_notice(step: Step, model_file: Path) -> None:
    result = step.action("register-model", model_path="models/wine.onnx", model_name="wine",
                         model_description="first", model_tags="stage: test", model_framework="Onnx")
    assert result.status == 0, result.stdout + result.stderr
    sha = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert result.outputs == {"backend": "local", "model-name": "wine", "model-version": "1", "model-id": "wine:1",
                              "model-sha256": sha, "model-reused": "false", "model-ids": "wine:1"}
    notices = [a for a in result.annotations if a.startswith("::notice")]
    assert len(notices) == 1 and "embedded local workspace" in notices[0]
    assert "## ✅ mlops-ci `register-model`" in result.summary
    assert "| `model-id` | `wine:1` |" in result.summary
    assert "version **1**" in result.summary


def test_identical_content_is_reused_and_changed_content_is_a_new_version(step: Step, model_file: Path) -> None:
    first = step.action("register-model", model_path="models/wine.onnx", model_name="wine")
    again = step.action("register-model", model_path="models/wine.onnx", model_name="wine")
    assert (again.outputs["model-version"], again.outputs["model-reused"]) == ("1", "true")
    assert "was reused" in again.summary
    forced = step.action("register-model", model_path="models/wine.onnx", model_name="wine", force_new_version="true")
    assert (forced.outputs["model-version"], forced.outputs["model-reused"]) == ("2", "false")
    assert forced.outputs["model-sha256"] == first.outputs["model-sha256"]
    model_file.write_bytes(b"retrained")
    changed = step.action("register-model", model_path="models/wine.onnx", model_name="wine")
    assert (changed.outputs["model-version"], changed.outputs["model-reused"]) == ("3", "false")
    other = step.action("register-model", model_path="models/wine.onnx", model_name="other-model")
    assert other.outputs["model-version"] == "1"


def test_several_models_in_one_step(step: Step, model_file: Path) -> None:
    (model_file.parent / "scaler").mkdir()
    (model_file.parent / "scaler" / "scaler.pkl").write_bytes(b"scaler")
    first = step.action("register-model", model_path="models/wine.onnx", model_name="wine")
    both = step.action("register-model", model_path="models/wine.onnx\nmodels/scaler\n",
                       model_name="wine, scaler", model_tags="team=ml")
    assert both.status == 0, both.stdout + both.stderr
    out = both.outputs
    assert out["model-ids"] == out["model-id"] == "wine:1,scaler:1"
    assert (out["model-name"], out["model-version"], out["model-reused"]) == ("wine,scaler", "1,1", "true,false")
    assert out["model-sha256"].split(",")[0] == first.outputs["model-sha256"]
    assert "| `wine.onnx` | `wine` | **1** | reused |" in both.summary
    assert "| `scaler` | `scaler` | **1** | registered |" in both.summary
    shown = json.loads(step.cli("models", "show", "scaler:1", "--json").stdout)[0]
    assert shown["tags"]["team"] == "ml"


@pytest.mark.parametrize(("inputs", "input_name", "said"), [
    ({"model_path": "models/wine.onnx\nmodels/missing.onnx", "model_name": "wine\nother"}, "model-path",
     "'models/missing.onnx', which does not exist"),
    ({"model_path": "models/wine.onnx\nmodels/wine.onnx", "model_name": "wine"}, "model-name",
     "has 1 names for 2 model-path entries"),
    ({"model_path": "models/wine.onnx,models/wine.onnx", "model_name": "wine,wine"}, "model-name",
     "names 'wine' more than once"),
    ({"model_path": "models/wine.onnx", "model_name": "wine\nbad name"}, "model-name", "not a valid name"),
], ids=["second-path-missing", "count-mismatch", "duplicate-names", "second-name-invalid"])
def test_several_models_bad_input_registers_nothing(step: Step, model_file: Path, inputs: dict[str, str],
                                                    input_name: str, said: str) -> None:
    assert step.action("register-model", model_path="models/wine.onnx", model_name="seed").status == 0
    result = step.action("register-model", **inputs)
    assert result.status == 2, result.stdout
    errors = [a for a in result.annotations if a.startswith("::error")]
    assert len(errors) == 1 and said in errors[0] and f"'{input_name}'" in errors[0]
    listed = step.cli("models", "list", "--json")
    assert listed.status == 0, listed.stdout + listed.stderr
    assert [m["name"] for m in json.loads(listed.stdout)] == ["seed"]


def test_underscore_input_spelling_is_accepted(step: Step, model_file: Path) -> None:
    result = step.action("register-model", underscore=True, model_path="models/wine.onnx", model_name="wine")
    assert result.status == 0 and result.outputs["model-id"] == "wine:1"


def test_provenance_tags_are_added_in_actions_and_user_tags_kept(step: Step, model_file: Path) -> None:
    step.action("register-model", model_path="models/wine.onnx", model_name="wine", model_tags="team=ml")
    shown = step.cli("models", "show", "wine:1", "--json")
    data = json.loads(shown.stdout)[0]
    assert data["tags"] == {"team": "ml", "github.repository": "octo-org/wine-models",
                            "github.sha": "0123456789abcdef0123456789abcdef01234567", "github.ref": "refs/heads/main",
                            "github.run_url": "https://github.com/octo-org/wine-models/actions/runs/4242"}


def test_folder_model_hash_is_the_sorted_listing(step: Step) -> None:
    folder = Path.cwd() / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"w")
    (folder / "sub" / "labels.txt").write_text("a\nb\n")
    result = step.action("register-model", model_path="bundle", model_name="bundle")
    lines = sorted(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}\n"
                   for p in folder.rglob("*") if p.is_file())
    assert result.outputs["model-sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()
    shown = json.loads(step.cli("models", "show", "bundle", "--json").stdout)[0]
    assert shown["files"] == ["bundle/model.onnx", "bundle/sub/labels.txt"]
    (folder / "sub" / "labels.txt").write_text("a\nb\nc\n")
    assert step.action("register-model", model_path="bundle", model_name="bundle").outputs["model-version"] == "2"


def test_cli_prints_outputs_as_lines_and_json(step: Step, model_file: Path) -> None:
    plain = step.cli("register-model", "--model-path", "models/wine.onnx", "--model-name", "wine")
    assert plain.status == 0
    assert "model-id=wine:1" in plain.stdout.splitlines()
    as_json = step.cli("register-model", "--model-path", "models/wine.onnx", "--model-name", "wine", "--json")
    assert json.loads(as_json.stdout)["model-reused"] == "true"
    assert "::" not in plain.stdout + plain.stderr, "no workflow commands outside Actions"


def test_register_dataset_csv_then_unchanged_then_changed(step: Step) -> None:
    data = Path.cwd() / "data" / "wine.csv"
    data.parent.mkdir()
    data.write_text("alcohol,ash,target\n14.2,2.4,0\n13.1,2.1,1\n")
    first = step.action("register-dataset", dataset_path="data/wine.csv", dataset_name="wine-data")
    assert first.status == 0, first.stdout
    assert first.outputs == {"backend": "local", "dataset-name": "wine-data", "dataset-version": "1",
                             "dataset-id": "wine-data:1", "dataset-reused": "false"}
    assert "`alcohol`" in first.summary
    same = step.action("register-dataset", dataset_path="data/wine.csv", dataset_name="wine-data")
    assert (same.outputs["dataset-version"], same.outputs["dataset-reused"]) == ("1", "true")
    data.write_text("alcohol,ash,target\n14.2,2.4,0\n")
    changed = step.action("register-dataset", dataset_path="data/wine.csv", dataset_name="wine-data")
    assert (changed.outputs["dataset-version"], changed.outputs["dataset-reused"]) == ("2", "false")
    listed = step.cli("datasets", "list", "--json")
    assert [(d["name"], d["version"]) for d in json.loads(listed.stdout)] == [("wine-data", 1), ("wine-data", 2)]


def test_register_dataset_url_is_a_reference_versioned_by_the_url(step: Step) -> None:
    url = "https://data.example.invalid/wine/v1.csv"  # never fetched: .invalid cannot resolve
    first = step.action("register-dataset", dataset_path=url, dataset_name="remote")
    again = step.action("register-dataset", dataset_path=url, dataset_name="remote")
    moved = step.action("register-dataset", dataset_path=url.replace("v1", "v2"), dataset_name="remote")
    assert [r.outputs["dataset-version"] for r in (first, again, moved)] == ["1", "1", "2"]
    assert [r.outputs["dataset-reused"] for r in (first, again, moved)] == ["false", "true", "false"]
    shown = json.loads(step.cli("datasets", "show", "remote:2", "--json").stdout)[0]
    assert shown["url"] == url.replace("v1", "v2") and shown["files"] == []


def test_register_dataset_folder_of_files_and_parquet(step: Step) -> None:
    folder = Path.cwd() / "images"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"\x00\x01")
    files = step.action("register-dataset", dataset_path="images", dataset_name="imgs", dataset_type="file")
    assert files.status == 0 and files.outputs["dataset-id"] == "imgs:1"
    parquet = Path.cwd() / "t.parquet"
    parquet.write_bytes(b"PAR1" + b"\x00" * 20 + (10).to_bytes(4, "little") + b"PAR1")
    tab = step.action("register-dataset", dataset_path="t.parquet", dataset_name="tab")
    assert tab.status == 0, tab.stdout


def test_models_command_errors_are_one_sentence(step: Step) -> None:
    result = step.cli("models", "list", "--workspace-dir", "nowhere")
    assert result.status == 2 and "No local workspace" in result.stderr and "Traceback" not in result.stderr


def _subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(extra)
    return env


def test_entrypoint_runs_as_the_container_does(tmp_path: Path, model_file: Path) -> None:
    out, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    out.touch()
    summary.touch()
    env = _subprocess_env(tmp_path, GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary),
                          **{"INPUT_TASK": "register-model", "INPUT_MODEL-PATH": "models/wine.onnx",
                             "INPUT_MODEL-NAME": "wine", "INPUT_WORKSPACE-DIR": ".mlops-ci",
                             "INPUT_FORCE-NEW-VERSION": "false", "INPUT_BACKEND": ""})
    proc = subprocess.run([sys.executable, str(ROOT / "entrypoint.py")], cwd=model_file.parents[1], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = parse_output_file(out.read_text())
    assert outputs["model-id"] == "wine:1" and outputs["backend"] == "local"
    assert "::notice title=mlops-ci backend::" in proc.stdout
    assert "mlops-ci `register-model`" in summary.read_text()


def test_python_dash_m_and_exit_status_of_a_bad_input(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mlops_ci", "register-model", "--model-name", "x"],
                          cwd=tmp_path, env=_subprocess_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mlops-ci: error:")]
    assert len(errors) == 1 and "'model-path'" in errors[0] and "Traceback" not in proc.stderr


def test_local_task_does_not_import_any_azure_sdk(tmp_path: Path, model_file: Path) -> None:
    code = ("import sys\nfrom mlops_ci.cli import main\n"
            "status = main(['register-model', '--model-path', 'models/wine.onnx', '--model-name', 'w'])\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('azureml', 'azure', 'github', 'requests'))\n"
            "print('LOADED', status, loaded)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=model_file.parents[1], env=_subprocess_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert "LOADED 0 []" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("signal_name", ["SIGTERM"], ids=["sigterm"])
def test_interrupted_step_exits_130(tmp_path: Path, signal_name: str) -> None:
    code = ("import os, signal, sys\nfrom mlops_ci import cli\nfrom mlops_ci.tasks import register_model\n"
            "def run(options, ctx):\n    os.kill(os.getpid(), signal.SIGTERM)\n"
            "register_model.run = run\n"
            "sys.exit(cli.main(['register-model', '--model-path', '.', '--model-name', 'x']))\n")
    (tmp_path / "f").write_text("x")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_subprocess_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bug_exits_70_with_traceback_and_please_report(step: Step, monkeypatch: pytest.MonkeyPatch,
                                                         model_file: Path) -> None:
    from mlops_ci.tasks import register_model

    def broken(options: object, ctx: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(register_model, "run", broken)
    result = step.action("register-model", model_path="models/wine.onnx", model_name="wine")
    assert result.status == 70
    assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr
    assert any("please report" in a for a in result.annotations)
