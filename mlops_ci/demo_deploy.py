"""The demo's deployment part: a test (ACI) service for the wine model, a client call, promotion to AKS, clean-up."""

from __future__ import annotations

import csv
import json
import shutil
from importlib import resources
from typing import TYPE_CHECKING

from mlops_ci.errors import ServiceError

if TYPE_CHECKING:
    from mlops_ci.demo import DemoState

TEST_SERVICE = "wine-test"
PROD_SERVICE = "wine-prod"


def deploy_and_promote(state: DemoState) -> None:
    """deploy-aci, call it with requests as a client would, promote-aks from it, then delete both services."""
    folder = state.workdir / "service"
    assets = resources.files("mlops_ci").joinpath("demo_assets", "wine_service")
    with resources.as_file(assets) as source:
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    rows = _first_rows(state, 2)
    (folder / "sample.json").write_text(json.dumps({"data": rows}), encoding="utf-8")
    model_id = state.outputs["Register the ONNX model"]["model-id"]
    try:
        test = state.task("Deploy the model to a local ACI test service (preflight, start, smoke test)", "deploy-aci",
                          model=model_id, service_name=TEST_SERVICE,
                          inference_config=str(folder / "inferenceconfig.json"),
                          deployment_config=str(folder / "deploymentconfig-aci.json"),
                          sample_request=str(folder / "sample.json"))
        call_like_a_client(state, test["scoring-uri"], test["scoring-key"], rows)
        state.task("Promote exactly what the test service runs to a local AKS service with two replicas",
                   "promote-aks", source_service=TEST_SERVICE, service_name=PROD_SERVICE,
                   deployment_config=str(folder / "deploymentconfig-aks.yml"),
                   sample_request=str(folder / "sample.json"))
        state.task("Smoke-test the production service: 20 requests", "smoke-test", service_name=PROD_SERVICE,
                   sample_request=str(folder / "sample.json"), requests_count="20")
    finally:
        for name in (PROD_SERVICE, TEST_SERVICE):
            state.task(f"Delete the service {name}", "delete-service", service_name=name)


def call_like_a_client(state: DemoState, scoring_uri: str, key: str, rows: list[list[float]]) -> None:
    import requests

    state.runner.stdout.write(
        "\n==> Call the test service from Python, exactly as against Azure (the key is the scoring-key output)\n"
        "    headers = {'Content-Type': 'application/json', 'Authorization': f'Bearer {key}'}\n"
        "    resp = requests.post(scoring_uri, json.dumps(data), headers=headers)\n"
        "    print(resp.json())\n")
    data = {"data": rows}
    headers = {'Content-Type': 'application/json', 'Authorization': f'Bearer {key}'}
    resp = requests.post(scoring_uri, json.dumps(data), headers=headers)
    if resp.status_code != 200:
        raise ServiceError(f"The demo's client call got HTTP {resp.status_code} from {scoring_uri}.",
                           fix="Run `mlops-ci get-logs --service-name wine-test` for the service's log.")
    state.runner.stdout.write(f"    {resp.json()}\n")


def _first_rows(state: DemoState, count: int) -> list[list[float]]:
    with open(state.workdir / "data" / "wine.csv", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [[float(v) for v in row[:-1]] for _, row in zip(range(count), reader, strict=False)]
