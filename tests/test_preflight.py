"""Preflight: a broken score.py fails within seconds with what, why and the traceback, and leaves no process behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlops_ci.errors import OperationTimeout, ServiceError
from mlops_ci.preflight import model_dir_for, run_preflight
from tests.deploy_fixtures import SCORE_PLAIN, SCORE_SCHEMA, no_stray_processes  # noqa: F401

SCRIPTS = {
    "no-init": ("def run(raw):\n    return raw\n", ["has no init() function"], "Define `def init():`"),
    "init-needs-argument": ("def init(model_path):\n    pass\ndef run(raw):\n    return raw\n",
                            ["defines init(model_path)", "no arguments"], "Define `def init():`"),
    "import-error": ("import definitely_not_installed_pkg\ndef init():\n    pass\ndef run(raw):\n    return raw\n",
                     ["cannot be imported", "ModuleNotFoundError"], "import error"),
    "exception-in-run": ("import json\ndef init():\n    pass\ndef run(raw):\n    return 1 / json.loads(raw)['zero']\n",
                         ["run() of 'score.py' failed on the sample request", "ZeroDivisionError"], "Fix run()"),
    "model-file-missing": ("import os\ndef init():\n    open(os.path.join(os.environ['AZUREML_MODEL_DIR'], "
                           "'model.pkl'), 'rb')\ndef run(raw):\n    return raw\n",
                           ["cannot find", "model.pkl"], "AZUREML_MODEL_DIR"),
    "exception-in-init": ("def init():\n    raise RuntimeError('no GPU here')\ndef run(raw):\n    return raw\n",
                          ["init() of 'score.py' failed", "RuntimeError: no GPU here"], "Fix init()"),
    "exit-in-import": ("import sys\nsys.exit(4)\n", ["cannot be imported", "SystemExit"], "import error"),
}


def _layout(tmp_path: Path, script: str) -> tuple[Path, Path]:
    source = tmp_path / "src"
    source.mkdir()
    (source / "score.py").write_text(script, encoding="utf-8")
    models = tmp_path / "models"
    (models / "factor" / "1").mkdir(parents=True)
    (models / "factor" / "1" / "factor.txt").write_text("3", encoding="utf-8")
    return source, model_dir_for(models, [("factor", 1)])


@pytest.mark.parametrize("case", list(SCRIPTS), ids=list(SCRIPTS))
def test_preflight_catches(tmp_path: Path, case: str, no_stray_processes: None) -> None:  # noqa: F811
    script, words, fix = SCRIPTS[case]
    source, model_dir = _layout(tmp_path, script)
    started = time.monotonic()
    with pytest.raises(ServiceError) as info:
        run_preflight(source_directory=source, entry_script="score.py", model_dir=model_dir,
                      sample='{"data": [1], "zero": 0}', environment={}, timeout=30)
    assert time.monotonic() - started < 10
    for word in words:
        assert word in info.value.message
    assert fix in info.value.fix + info.value.why
    assert info.value.why
    if case not in ("no-init", "init-needs-argument"):
        assert "Traceback" in info.value.logs


def test_preflight_passes_the_raw_json_and_the_model_dir(tmp_path: Path, no_stray_processes: None) -> None:  # noqa: F811
    source, model_dir = _layout(tmp_path, SCORE_PLAIN + "\nprint('hello from init', flush=True)\n")
    result = run_preflight(source_directory=source, entry_script="score.py", model_dir=model_dir,
                           sample='{"data": [1, 2]}', environment={"EXTRA": "1"}, timeout=30)
    assert result.output == '{"result": [3.0, 6.0]}'
    assert "hello from init" in result.logs


def test_preflight_calls_a_schema_decorated_run_with_the_body_keys(tmp_path: Path,
                                                                  no_stray_processes: None) -> None:  # noqa: F811
    source, model_dir = _layout(tmp_path, SCORE_SCHEMA)
    result = run_preflight(source_directory=source, entry_script="score.py", model_dir=model_dir,
                           sample='{"data": [1, 2]}', environment={}, timeout=30)
    assert result.output == '{"result": [3.0, 6.0]}'
    with pytest.raises(ServiceError) as info:
        run_preflight(source_directory=source, entry_script="score.py", model_dir=model_dir,
                      sample='[1, 2]', environment={}, timeout=30)
    assert "JSON dictionary" in info.value.message


def test_preflight_timeout_kills_what_score_py_started(tmp_path: Path, no_stray_processes: None) -> None:  # noqa: F811
    # The grandchild names the test's folder on its command line, so the leak check would see it survive.
    script = ("import os, subprocess, sys, time\n"
              "def init():\n    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', os.getcwd()])\n"
              "    time.sleep(60)\n"
              "def run(raw):\n    return raw\n")
    source, model_dir = _layout(tmp_path, script)
    started = time.monotonic()
    with pytest.raises(OperationTimeout):
        run_preflight(source_directory=source, entry_script="score.py", model_dir=model_dir, sample="{}",
                      environment={}, timeout=1.5)
    assert time.monotonic() - started < 8


def test_model_dir_is_laid_out_as_azure_does(tmp_path: Path) -> None:
    assert model_dir_for(tmp_path, [("a", 1)]) == tmp_path / "a" / "1"
    assert model_dir_for(tmp_path, [("a", 1), ("b", 2)]) == tmp_path
