"""Pipeline step: train the wine classifier, save it as ONNX, and register it (locally or in the Azure ML run)."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--model-name", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(Path(args.data) / name, delimiter=",", skiprows=1, dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


x_train, y_train = load("train.csv")
x_test, y_test = load("test.csv")
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=7))
model.fit(x_train, y_train)
accuracy = float(model.score(x_test, y_test))
onnx_model = to_onnx(model, x_train[:1], options={id(model.steps[-1][1]): {"zipmap": False}}, target_opset=17)
path = Path(args.out) / "wine.onnx"
path.write_bytes(onnx_model.SerializeToString())
(Path(args.out) / "metrics.json").write_text(json.dumps({"accuracy": accuracy}), encoding="utf-8")
print(f"trained: test accuracy {accuracy:.3f}")

description = f"Wine classifier trained by the pipeline, test accuracy {accuracy:.3f}"
if os.environ.get("MLOPS_CI_WORKSPACE_DIR"):
    # On mlops-ci's local engine: register into the same local workspace.
    subprocess.run([sys.executable, "-m", "mlops_ci", "register-model", "--backend", "local",
                    "--workspace-dir", os.environ["MLOPS_CI_WORKSPACE_DIR"], "--model-path", str(path),
                    "--model-name", args.model_name, "--model-framework", "Onnx",
                    "--model-description", description], check=True)
else:
    from azureml.core import Run  # on Azure ML: register from the step's own run, as the SDK teaches

    run = Run.get_context()
    run.upload_file("outputs/wine.onnx", str(path))
    run.register_model(model_name=args.model_name, model_path="outputs/wine.onnx", description=description)
