"""`mlops-ci demo`: the whole flow on the embedded local workspace, with a real model trained at run time."""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops_ci.demo_deploy import deploy_and_promote
from mlops_ci.demo_pipeline import publish_and_trigger
from mlops_ci.errors import InputError, ServiceError
from mlops_ci.runner import Runner, parse_output_file


@dataclass
class DemoState:
    """What the demo's steps share: where it works, how to run a task, and the outputs so far."""

    workdir: Path
    runner: Runner
    environ: Mapping[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def workspace_dir(self) -> Path:
        return self.workdir / "workspace"

    def task(self, label: str, task: str, **inputs: str) -> dict[str, str]:
        """Run one task through the same main() as the Action and the CLI; fail the demo when it fails."""
        from mlops_ci.cli import main

        shown = [task, *(part for k, v in inputs.items() for part in (f"--{k.replace('_', '-')}", v))]
        self.runner.stdout.write(f"\n==> {label}\n    mlops-ci {shlex.join(shown)}\n")
        self.runner.stdout.flush()
        with tempfile.NamedTemporaryFile("r", suffix=".out", delete=False) as handle:
            output_file = handle.name
        try:
            environ = {**{k: v for k, v in self.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))},
                       "GITHUB_OUTPUT": output_file}
            argv = [task, "--backend", "local", "--workspace-dir", str(self.workspace_dir)]
            for key, value in inputs.items():
                argv += [f"--{key.replace('_', '-')}", value]
            status = main(argv, environ=environ, stdout=self.runner.stdout, stderr=self.runner.stderr)
            outputs = parse_output_file(Path(output_file).read_text(encoding="utf-8"))
        finally:
            os.unlink(output_file)
        if status != 0:
            raise ServiceError(f"The demo stopped: step '{label}' exited with status {status}.",
                               fix="Read the error above; the demo's files are in " + str(self.workdir) + ".")
        self.outputs[label] = outputs
        return outputs


def train_wine_model(state: DemoState) -> None:
    """Train a small classifier on scikit-learn's bundled wine data and convert it to ONNX."""
    try:
        from skl2onnx import to_onnx
        from sklearn.datasets import load_wine
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import train_test_split
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise InputError("demo", "The demo needs scikit-learn and skl2onnx, which are not installed.",
                         fix="Install them with `pip install 'mlops-ci[demo]'`.") from exc
    import numpy as np

    wine = load_wine()
    data_dir = state.workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "wine.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*wine.feature_names, "target"])
        for row, target in zip(wine.data.tolist(), wine.target.tolist(), strict=True):
            writer.writerow([*row, target])
    features = wine.data.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(features, wine.target, test_size=0.25,
                                                        random_state=7, stratify=wine.target)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=7))
    model.fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))
    onnx_model = to_onnx(model, x_train[:1], options={id(model.steps[-1][1]): {"zipmap": False}},
                         target_opset=17)
    model_dir = state.workdir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "wine.onnx").write_bytes(onnx_model.SerializeToString())
    state.outputs["train"] = {"accuracy": f"{accuracy:.3f}", "features": ",".join(wine.feature_names)}
    state.runner.stdout.write(f"\n==> Trained a wine classifier: test accuracy {accuracy:.3f}; "
                              f"saved {model_dir / 'wine.onnx'} ({(model_dir / 'wine.onnx').stat().st_size} bytes) "
                              f"and {data_dir / 'wine.csv'}\n")


def register(state: DemoState) -> None:
    state.task("Register the ONNX model", "register-model", model_path=str(state.workdir / "model" / "wine.onnx"),
               model_name="wine-classifier", model_framework="Onnx",
               model_description=f"Wine classifier, test accuracy {state.outputs['train']['accuracy']}",
               model_tags="onnx=world-wines")
    state.task("Register the wine data set", "register-dataset", dataset_path=str(state.workdir / "data" / "wine.csv"),
               dataset_name="wine-data", dataset_type="tabular",
               dataset_description="scikit-learn's bundled wine recognition data")
    again = state.task("Register the unchanged model again (reused, no new version)", "register-model",
                       model_path=str(state.workdir / "model" / "wine.onnx"), model_name="wine-classifier",
                       model_framework="Onnx")
    if again.get("model-reused") != "true":
        raise ServiceError("The demo expected the unchanged model to be reused, and it was not.",
                           fix="Please report this: content-identical registrations must reuse the latest version.")


# The demo's steps in order; later parts of the flow (deployments, pipelines) append theirs.
STEPS: list[Callable[[DemoState], None]] = [
    train_wine_model,
    register,
    deploy_and_promote,
    publish_and_trigger,
]


def demo_command(argv: list[str], runner: Runner, environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="mlops-ci demo", description="Run the end-to-end demo on the embedded "
                                     "local workspace (no Azure needed).")
    parser.add_argument("--workdir", default="mlops-ci-demo", help="Folder for the demo's files (emptied first).")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir).resolve()
    if workdir.exists():
        if not (workdir / ".mlops-ci-demo").exists():
            raise InputError("workdir", f"'{workdir}' exists and was not made by the demo.",
                             fix="Pass --workdir with a new folder name.")
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / ".mlops-ci-demo").write_text("made by mlops-ci demo\n", encoding="utf-8")
    state = DemoState(workdir=workdir, runner=runner, environ=environ)
    runner.stdout.write(f"mlops-ci demo: everything happens in {workdir}, on the embedded local workspace.\n")
    for step in STEPS:
        step(state)
    runner.stdout.write("\n==> Done. Browse the registry with:\n"
                        f"    mlops-ci models list --workspace-dir {state.workspace_dir}\n"
                        f"    mlops-ci datasets list --workspace-dir {state.workspace_dir}\n")
    return 0
