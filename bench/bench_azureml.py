"""The azureml backend against the loopback emulator: our overhead per task (process start to outputs, minus the
time spent inside the emulator) beside `import azureml.core`, HTTP requests per task beside the bare SDK calls, and
the installed size of the Azure dependencies. Run from the repository root with PYTHONPATH=. (it imports the
emulator from tests/)."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.azure_emulator.ca import CertificateAuthority
from tests.azure_emulator.emulator import AzureEmulator

PYTHON = sys.executable
SCORE = "def init():\n    pass\n\ndef run(raw):\n    return {'result': [1]}\n"
BARE_REGISTER = """
import sys
from azureml.core import Model, Workspace
from azureml.core.authentication import ServicePrincipalAuthentication
t, c, s, sub, rg, ws = sys.argv[1:7]
workspace = Workspace(sub, rg, ws, auth=ServicePrincipalAuthentication(t, c, s))
Model.list(workspace, name="bare", latest=True)
Model.register(workspace, model_path="model.onnx", model_name="bare", tags={"sha256": "x"})
"""


def run(argv: list[str], env: dict[str, str], cwd: Path, emulator: AzureEmulator) -> tuple[float, float, int]:
    emulator.clear_log()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[3:5]} failed:\n{done.stdout}\n{done.stderr}")
    return wall, emulator.handler_seconds, len(emulator.requests)


def installed_mb(roots: list[str]) -> tuple[float, int]:
    """Installed bytes of these distributions and everything they require, from their RECORD files."""
    seen: set[str] = set()
    pending = list(roots)
    total = 0
    while pending:
        name = re.split(r"[ ;<>=!\[~(]", pending.pop())[0].lower().replace("_", "-")
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
        pending += [r for r in (dist.requires or []) if "extra ==" not in r]
    return total / 1e6, len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mlops-ci-bench-azure-"))
    home = base / "home"
    (home / ".azure").mkdir(parents=True)
    emulator = AzureEmulator(CertificateAuthority(base / "ca"), home).start()
    try:
        emulator.create_aml_compute("cpu-cluster")
        project = base / "repo"
        (project / "src").mkdir(parents=True)
        (project / "src" / "score.py").write_text(SCORE)
        (project / "steps").mkdir()
        (project / "steps" / "train.py").write_text("print('train')\n")
        (project / "inferenceconfig.json").write_text(json.dumps({"entryScript": "score.py", "sourceDirectory": "src"}))
        (project / "sample.json").write_text(json.dumps({"data": [[1]]}))
        (project / "model.onnx").write_bytes(b"model" * 1000)
        (project / "data.csv").write_text("a,b\n1,2\n")
        (project / "pipeline.yml").write_text(
            "pipeline:\n  description: d\n  default_compute: cpu-cluster\n  steps:\n    train:\n"
            "      type: PythonScriptStep\n      name: train\n      script_name: train.py\n"
            "      source_directory: steps\n")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}, **emulator.env,
               "MLOPS_CI_POLL_SECONDS": "0.05", "PYTHONPATH": str(Path.cwd())}
        credentials = json.dumps({"clientId": emulator.client_id, "clientSecret": emulator.client_secret,
                                  "tenantId": emulator.tenant_id, "subscriptionId": emulator.subscription_id})
        common = ["--backend", "azureml", "--azure-credentials", credentials, "--workspace-name",
                  emulator.workspace_name, "--resource-group", emulator.resource_group]
        tasks = [
            ("register-model (new)", ["register-model", "--model-path", "model.onnx", "--model-name", "m",
                                      "--force-new-version", "true"]),
            ("register-model (reused)", ["register-model", "--model-path", "model.onnx", "--model-name", "m"]),
            ("register-dataset (reused)", ["register-dataset", "--dataset-path", "data.csv", "--dataset-name", "d"]),
            ("deploy-aci (update in place)", ["deploy-aci", "--model", "m:1", "--service-name", "svc",
                                              "--inference-config", "inferenceconfig.json",
                                              "--sample-request", "sample.json"]),
            ("get-logs", ["get-logs", "--service-name", "svc"]),
            ("publish-pipeline", ["publish-pipeline", "--pipeline-yaml", "pipeline.yml", "--pipeline-name", "p"]),
        ]
        azure_import = statistics.median(
            run_plain([PYTHON, "-c", "import azureml.core"], env) for _ in range(args.runs))
        bare_python = statistics.median(run_plain([PYTHON, "-c", "pass"], env) for _ in range(args.runs))
        rows = []
        for label, argv in tasks:
            full = [PYTHON, "-m", "mlops_ci", *argv, *common]
            run(full, env, project, emulator)  # first run creates what later runs update or reuse
            samples = [run(full, env, project, emulator) for _ in range(args.runs)]
            wall = statistics.median(s[0] for s in samples)
            inside = statistics.median(s[1] for s in samples)
            requests = samples[-1][2]
            rows.append((label, wall, inside, requests))
        bare = run([PYTHON, "-c", BARE_REGISTER, emulator.tenant_id, emulator.client_id, emulator.client_secret,
                    emulator.subscription_id, emulator.resource_group, emulator.workspace_name], env, project,
                   emulator)
        print(f"python -c pass: {bare_python * 1000:.0f} ms; python -c 'import azureml.core': "
              f"{azure_import * 1000:.0f} ms")
        print("| task | process | inside the emulator | our overhead | overhead / import azureml.core | requests |")
        print("| --- | --- | --- | --- | --- | --- |")
        for label, wall, inside, requests in rows:
            ours = wall - inside
            print(f"| {label} | {wall * 1000:.0f} ms | {inside * 1000:.0f} ms | {ours * 1000:.0f} ms | "
                  f"{ours / azure_import:.2f}x | {requests} |")
        print(f"bare SDK register (Workspace + Model.list + Model.register): {bare[2]} requests, "
              f"{bare[0] * 1000:.0f} ms")
        core, count = installed_mb(["azureml-core", "azureml-pipeline-core", "azure-identity"])
        print(f"installed: azureml-core + azureml-pipeline-core + azure-identity with {count} distributions: "
              f"{core:.0f} MB")
    finally:
        emulator.stop()


def run_plain(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
