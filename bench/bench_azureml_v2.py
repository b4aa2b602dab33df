"""azureml-sdk v2 beside v1 against the loopback emulator, in the same run: our overhead per task (process start to
outputs, minus the time spent inside the emulator) and the HTTP requests per task. v2's long operations also sleep
between status reads for the service's Retry-After (1 s at least: the SDK reads it as whole seconds), so the table
counts those reads. Run from the repository root with PYTHONPATH=. (it imports the emulator from tests/)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.azure_emulator.arm_v2 import add_kubernetes_compute
from tests.azure_emulator.ca import CertificateAuthority
from tests.azure_emulator.emulator import AzureEmulator

PYTHON = sys.executable
SCORE = "def init():\n    pass\n\ndef run(raw):\n    return {'result': [1]}\n"
PIPELINE = """\
pipeline:
  default_compute: cpu-cluster
  steps:
    train:
      type: PythonScriptStep
      name: train
      script_name: train.py
      source_directory: steps
"""
# (label, task, inputs); the deployment tasks name the service after the SDK so both can live in one workspace.
TASKS = [
    ("register-model (new)", "register-model", {"model-path": "model.onnx", "model-name": "wine-{sdk}",
                                                "force-new-version": "true"}),
    ("register-model (reused)", "register-model", {"model-path": "model.onnx", "model-name": "wine-{sdk}"}),
    ("register-dataset", "register-dataset", {"dataset-path": "data.csv", "dataset-name": "wine-{sdk}"}),
    ("deploy-aci", "deploy-aci", {"model": "wine-{sdk}", "service-name": "svc-{sdk}",
                                  "inference-config": "inferenceconfig.json", "sample-request": "sample.json"}),
    ("smoke-test", "smoke-test", {"service-name": "svc-{sdk}", "sample-request": "sample.json",
                                  "requests-count": "1"}),
    ("get-logs", "get-logs", {"service-name": "svc-{sdk}"}),
    ("delete-service", "delete-service", {"service-name": "svc-{sdk}"}),
    ("publish-pipeline", "publish-pipeline", {"pipeline-yaml": "pipeline.yml", "pipeline-name": "train-{sdk}",
                                              "endpoint-name": "train-{sdk}"}),
    ("trigger-pipeline", "trigger-pipeline", {"endpoint-name": "train-{sdk}", "experiment-name": "bench"}),
]


def step_env(emulator: AzureEmulator, sdk: str, task: str, inputs: dict[str, str], home: Path) -> dict[str, str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **emulator.env,
           "MLOPS_CI_POLL_SECONDS": "0.05", "MLOPS_CI_RETRY_BASE_SECONDS": "0.05"}
    credentials = json.dumps({"clientId": emulator.client_id, "clientSecret": emulator.client_secret,
                              "tenantId": emulator.tenant_id, "subscriptionId": emulator.subscription_id})
    values = {"task": task, "backend": "azureml", "azureml-sdk": sdk, "azure-credentials": credentials,
              "workspace-name": emulator.workspace_name, "resource-group": emulator.resource_group,
              "github-deployment": "false", "pr-comment": "false",
              **{k: v.format(sdk=sdk) for k, v in inputs.items() if v}}
    env.update({f"INPUT_{k.upper()}": v for k, v in values.items()})
    return env


def one(emulator: AzureEmulator, sdk: str, task: str, inputs: dict[str, str], cwd: Path) -> dict[str, float]:
    emulator.clear_log()
    env = step_env(emulator, sdk, task, inputs, cwd / "home")
    output = cwd / "output.txt"
    output.write_text("")
    env["GITHUB_OUTPUT"] = str(output)
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "mlops_ci"], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{sdk} {task} failed:\n{done.stdout}\n{done.stderr}")
    polls = emulator.count(path_regex=r"/mfeOperationsStatus/")
    return {"wall": wall, "emulator": emulator.handler_seconds, "polls": polls,
            "overhead": wall - emulator.handler_seconds, "requests": len(emulator.requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="repetitions per task and SDK (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-v2-") as scratch:
        root = Path(scratch)
        (root / "home" / ".azure").mkdir(parents=True)
        emulator = AzureEmulator(CertificateAuthority(root / "ca"), root / "home").start()
        try:
            emulator.v2.retry_after = "1"
            emulator.v2.operation_polls = 0
            emulator.create_aml_compute("cpu-cluster")
            add_kubernetes_compute(emulator, "aks-prod")
            (root / "model.onnx").write_bytes(b"onnx" * 1000)
            (root / "data.csv").write_text("alcohol,quality\n12.1,5\n")
            (root / "src").mkdir()
            (root / "src" / "score.py").write_text(SCORE)
            (root / "inferenceconfig.json").write_text(json.dumps({"entryScript": "score.py",
                                                                   "sourceDirectory": "src"}))
            (root / "sample.json").write_text(json.dumps({"data": [[1.0]]}))
            (root / "steps").mkdir()
            (root / "steps" / "train.py").write_text("print('train')\n")
            (root / "pipeline.yml").write_text(PIPELINE)
            print(f"{'task':26} {'v1 overhead':>12} {'v2 overhead':>12} {'v2/v1':>6} {'v1 req':>7} {'v2 req':>7} "
                  f"{'v2 LRO reads':>13}")
            for label, task, inputs in TASKS:
                rows: dict[str, list[dict[str, float]]] = {"v1": [], "v2": []}
                for _ in range(args.runs):
                    for sdk in ("v1", "v2"):
                        if task == "delete-service" and rows[sdk]:
                            one(emulator, sdk, "deploy-aci", TASKS[3][2], root)  # something to delete again
                        rows[sdk].append(one(emulator, sdk, task, inputs, root))
                        if task == "deploy-aci" and len(rows[sdk]) < args.runs:
                            one(emulator, sdk, "delete-service", TASKS[6][2], root)
                med = {sdk: {k: statistics.median(r[k] for r in rows[sdk]) for k in rows[sdk][0]} for sdk in rows}
                v1, v2 = med["v1"], med["v2"]
                print(f"{label:26} {v1['overhead']:11.2f}s {v2['overhead']:11.2f}s "
                      f"{v2['overhead'] / v1['overhead']:6.2f} {v1['requests']:7.0f} {v2['requests']:7.0f} "
                      f"{v2['polls']:13.0f}")
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
