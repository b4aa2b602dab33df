"""Scoring script for the wine classifier: the same file runs on Azure ML and on mlops-ci's local endpoints."""

import json
import os

import numpy as np
import onnxruntime as ort


def init():
    global session, input_name
    # One registered model: AZUREML_MODEL_DIR is its <name>/<version> folder, holding the registered file.
    model_path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "wine.onnx")
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name


def run(raw_data):
    rows = np.array(json.loads(raw_data)["data"], dtype=np.float32)
    labels, probabilities = session.run(None, {input_name: rows})
    return {"predictions": labels.tolist(), "probabilities": np.round(probabilities.astype(float), 4).tolist()}
