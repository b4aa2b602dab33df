"""Preflight: import a score.py, call init() and run(sample) in a subprocess laid out as Azure's container lays it out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_ci.errors import OperationTimeout, ServiceError

# What the child reports, by stage: each gets its own what/why/fix.
STAGES = ("import", "contract", "init", "run")
LOG_LIMIT = 64 * 1024


@dataclass(frozen=True)
class PreflightResult:
    seconds: float
    output: str  # what run() returned, as JSON text (or repr when not JSON-serialisable)
    logs: str  # the script's own prints during init() and run()


def model_dir_for(models_root: Path, model_ids: list[tuple[str, int]]) -> Path:
    """AZUREML_MODEL_DIR as Azure sets it: <root>/<name>/<version> for one model, the root for several."""
    if len(model_ids) == 1:
        name, version = model_ids[0]
        return models_root / name / str(version)
    return models_root


def run_preflight(*, source_directory: Path, entry_script: str, model_dir: Path, sample: str,
                  environment: Mapping[str, str], timeout: float) -> PreflightResult:
    """Run the preflight child; raise ServiceError (with the traceback in `logs`) when score.py would not serve."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlops-ci-preflight-") as scratch:
        report_path = Path(scratch) / "report.json"
        sample_path = Path(scratch) / "sample.json"
        sample_path.write_text(sample, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_TOKEN", "ACTIONS_"))}
        env.update(environment)
        env.update({
            "AZUREML_MODEL_DIR": str(model_dir),
            "AZUREML_ENTRY_SCRIPT": entry_script,
            "AML_APP_ROOT": str(source_directory),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        log_path = Path(scratch) / "child.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mlops_ci.preflight", str(report_path), str(sample_path)],
                cwd=source_directory, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: whatever score.py starts goes with it
            )
            try:
                proc.wait(timeout=max(timeout, 0.1))
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                logs = _read_tail(log_path)
                raise OperationTimeout(
                    f"The preflight of '{entry_script}' did not finish within {timeout:.0f} s.",
                    why="init() or run() is still working (or waiting) after the whole step's budget.",
                    fix="Make init() and run() return promptly, or raise 'timeout-minutes'.", logs=logs) from None
            except BaseException:
                _kill_group(proc)
                raise
            _kill_group(proc)  # a daemon thread or child process that score.py left behind
        logs = _read_tail(log_path)
        report = _read_report(report_path)
    seconds = time.monotonic() - started
    if proc.returncode == 0 and report.get("ok"):
        return PreflightResult(seconds=seconds, output=report.get("output", ""), logs=logs)
    raise _failure(entry_script, model_dir, proc.returncode, report, logs)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
        pass


def _read_tail(path: Path) -> str:
    data = path.read_bytes()
    if len(data) > LOG_LIMIT:
        data = b"[... earlier output cut ...]\n" + data[-LOG_LIMIT:]
    return data.decode("utf-8", errors="replace")


def _read_report(path: Path) -> dict[str, object]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _failure(entry: str, model_dir: Path, returncode: int, report: dict[str, object], logs: str) -> ServiceError:
    stage = str(report.get("stage", ""))
    error = str(report.get("error", "")) or f"the preflight process exited with status {returncode}"
    trace = str(report.get("traceback", ""))
    full_logs = "\n".join(part for part in (logs.rstrip(), trace.rstrip()) if part)
    missing_file = str(report.get("missing_file", ""))
    if stage == "import":
        return ServiceError(f"'{entry}' cannot be imported: {error}.", logs=full_logs,
                            why="Azure's inference server imports the entry script first; this one raises while "
                                "being imported, so no container would ever become healthy.",
                            fix="Fix the import error shown in the traceback (a missing package belongs in the "
                                "environment's pip dependencies).")
    if stage == "contract":
        return ServiceError(f"'{entry}' {error}.", logs=full_logs,
                            why="Azure's inference server calls init() with no arguments once per worker, then "
                                "run(data) for each request.",
                            fix="Define `def init():` (no parameters) and `def run(raw_data):` at module level.")
    if stage == "init" and missing_file:
        return ServiceError(f"init() of '{entry}' cannot find '{missing_file}'.", logs=full_logs,
                            why=f"AZUREML_MODEL_DIR is '{model_dir}', laid out as Azure lays it out; it holds: "
                                f"{report.get('model_files') or 'nothing'}.",
                            fix="Build the path from os.environ['AZUREML_MODEL_DIR'] and the registered file's "
                                "name (one model: the folder itself; several: <name>/<version>/...).")
    if stage == "init":
        return ServiceError(f"init() of '{entry}' failed: {error}.", logs=full_logs,
                            why="The inference server stops a worker whose init() raises: the service never "
                                "becomes healthy.", fix="Fix init(); the traceback is in the logs.")
    if stage == "run":
        return ServiceError(f"run() of '{entry}' failed on the sample request: {error}.", logs=full_logs,
                            why="Each such request would get HTTP 500 from the endpoint.",
                            fix="Fix run(), or the sample request if it is not what clients send.")
    return ServiceError(f"The preflight of '{entry}' failed: {error}.", logs=full_logs,
                        why="The preflight process stopped before it could report (a crash or os._exit()).",
                        fix="Read the logs above.")


# -- the child: runs inside the user's source directory -----------------------------------------------------------
def _child(report_path: str, sample_path: str) -> int:
    import traceback

    def report(data: dict[str, object]) -> int:
        Path(report_path).write_text(json.dumps(data), encoding="utf-8")
        return 0 if data.get("ok") else 1

    app_root = os.environ["AML_APP_ROOT"]
    entry = os.environ["AZUREML_ENTRY_SCRIPT"]
    sys.path.append(app_root)  # as azmlinfsrv does
    sample = Path(sample_path).read_text(encoding="utf-8")
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("entry_module", os.path.join(app_root, entry))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - a script's import may raise anything, SystemExit included
        return report({"ok": False, "stage": "import", "error": _describe(exc), "traceback": traceback.format_exc()})

    problem = _contract_problem(module)
    if problem:
        return report({"ok": False, "stage": "contract", "error": problem, "traceback": ""})
    try:
        module.init()
    except BaseException as exc:  # noqa: BLE001
        missing = exc.filename if isinstance(exc, FileNotFoundError) and exc.filename else ""
        return report({"ok": False, "stage": "init", "error": _describe(exc), "traceback": traceback.format_exc(),
                       "missing_file": str(missing), "model_files": _listing(os.environ.get("AZUREML_MODEL_DIR", ""))})
    try:
        output = _invoke_run(module, sample)
    except BaseException as exc:  # noqa: BLE001
        return report({"ok": False, "stage": "run", "error": _describe(exc), "traceback": traceback.format_exc()})
    try:
        text = json.dumps(output)
    except (TypeError, ValueError):
        text = repr(output)
    return report({"ok": True, "output": text})


def _contract_problem(module: object) -> str:
    import inspect

    init = getattr(module, "init", None)
    run = getattr(module, "run", None)
    if not callable(init):
        return "has no init() function"
    if not callable(run):
        return "has no run() function"
    required = [p.name for p in inspect.signature(init).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if required:
        return (f"defines init({', '.join(required)}), but the inference server calls init() with no arguments "
                "(it fails with \"init() missing 1 required positional argument\")")
    params = [p for p in inspect.signature(run).parameters.values() if p.name != "request_headers"]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) for p in params):
        return "defines run() with positional-only arguments, *args or **kwargs, which the inference server refuses"
    if not params:
        return "defines run() without an argument for the input data"
    return ""


def _invoke_run(module: object, sample: str) -> object:
    """Call run() as azmlinfsrv does for a JSON POST: the raw text, or the body's keys with @input_schema."""
    import inspect

    run = module.run  # type: ignore[attr-defined]
    params = list(inspect.signature(run).parameters.values())
    extra = {"request_headers": {"Content-Type": "application/json"}} if any(
        p.name == "request_headers" for p in params) else {}
    params = [p for p in params if p.name != "request_headers"]
    if _schema_decorated(run):
        body = json.loads(sample)
        if not isinstance(body, dict):
            raise ValueError("POST body should be a JSON dictionary (run() is decorated with @input_schema)")
        arguments = {}
        for param in params:
            value = body.get(param.name, param.default)
            if value is inspect.Parameter.empty:
                raise ValueError(f"A value is not provided for the {param.name!r} parameter.")
            arguments[param.name] = value
        return run(**arguments, **extra)
    return run(**{params[0].name: sample}, **extra)


def _schema_decorated(function: object) -> bool:
    try:
        from inference_schema.schema_util import is_schema_decorated
    except ImportError:
        return False
    return bool(is_schema_decorated(function))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _listing(root: str, limit: int = 20) -> str:
    if not root or not os.path.isdir(root):
        return ""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            found.append(os.path.relpath(os.path.join(folder, name), root))
            if len(found) >= limit:
                return ", ".join(found) + ", …"
    return ", ".join(found)


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], sys.argv[2]))
