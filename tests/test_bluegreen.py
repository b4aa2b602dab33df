"""promote-aks: blue/green swap and rollback under a steady stream of requests, without losing one."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import requests

from tests.deploy_fixtures import make_project, no_stray_processes, processes_under  # noqa: F401
from tests.harness import Step

AKS = {"computeType": "AKS", "numReplicas": 2, "autoScaler": {"autoscaleEnabled": False}}


class Load:
    """Bounded client threads posting to one URI (loopback only) and recording every answer."""

    def __init__(self, uri: str, key: str, threads: int = 4, limit: int = 4000, seconds: float = 60.0) -> None:
        self.uri, self.key, self.limit, self.seconds = uri, key, limit, seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers: list[tuple[float, int, str]] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.seconds
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"}
        with requests.Session() as http:
            http.trust_env = False
            while not self.stop.is_set() and time.monotonic() < deadline:
                with self.lock:
                    if len(self.answers) + len(self.errors) >= self.limit:
                        return
                try:
                    resp = http.post(self.uri, '{"data": [1, 2]}', headers=headers, timeout=30)
                    with self.lock:
                        self.answers.append((time.monotonic(), resp.status_code, resp.text))
                except requests.RequestException as exc:
                    with self.lock:
                        self.errors.append(repr(exc))

    def between(self, start: float, end: float) -> list[tuple[float, int, str]]:
        with self.lock:
            return [a for a in self.answers if start <= a[0] <= end]


def _register(step: Step, factor: str) -> None:
    Path("models/factor.txt").write_text(factor, encoding="utf-8")
    result = step.action("register-model", backend="local", model_path="models/factor.txt", model_name="factor")
    assert result.status == 0, result.stdout


def _promote(step: Step, model: str, expected: list[float]):
    Path("expected.json").write_text(json.dumps({"result": expected}), encoding="utf-8")
    return step.action("promote-aks", backend="local", model=model, service_name="wine-prod",
                       inference_config="inferenceconfig.json", deployment_config="aks.json",
                       sample_request="sample.json", expected_response="expected.json")


def test_swap_and_rollback_lose_no_request(step: Step, tmp_path: Path, no_stray_processes: None) -> None:  # noqa: F811
    project = make_project(Path.cwd())
    project.json("aks.json", AKS)
    for factor in ("2", "3", "5"):
        _register(step, factor)

    first = _promote(step, "factor:1", [2.0, 4.0])
    assert first.status == 0, first.stdout
    assert (first.outputs["previous-model-ids"], first.outputs["rolled-back"]) == ("", "false")
    uri, key = first.outputs["scoring-uri"], first.outputs["scoring-key"]
    servers = [p for p in processes_under(str(tmp_path)) if "mlops_ci.backends.local.serve" in " ".join(p.cmdline())]
    assert len(servers) == 3  # one gunicorn master and numReplicas workers

    with Load(uri, key) as load:
        time.sleep(0.3)
        swap_start = time.monotonic()
        swap = _promote(step, "factor:2", [3.0, 6.0])
        swap_end = time.monotonic()
        time.sleep(0.3)
        rollback = _promote(step, "factor:3", [3.0, 6.0])  # factor 5 answers [5, 10]: the smoke test fails
        rollback_end = time.monotonic()
        time.sleep(0.3)

    assert swap.status == 0, swap.stdout
    assert swap.outputs["scoring-uri"] == uri  # the same address before and after the swap
    assert (swap.outputs["model-ids"], swap.outputs["previous-model-ids"]) == ("factor:2", "factor:1")
    assert rollback.status == 1
    assert (rollback.outputs["rolled-back"], rollback.outputs["previous-model-ids"]) == ("true", "factor:2")
    assert "is still serving" in rollback.summary

    assert load.errors == []
    statuses = {status for _, status, _ in load.answers}
    assert statuses == {200}, statuses
    bodies = [json.loads(text)["result"] for _, _, text in load.answers]
    assert [5.0, 10.0] not in bodies  # the failed version never got public traffic
    assert [2.0, 4.0] in bodies and [3.0, 6.0] in bodies
    assert len(load.between(swap_start, swap_end)) > 20 and len(load.between(swap_end, rollback_end)) > 20
    after = [json.loads(text)["result"] for t, _, text in load.answers if t > swap_end]
    assert set(map(tuple, after)) == {(3.0, 6.0)}  # once the swap returned, only the new version answers

    servers = [p for p in processes_under(str(tmp_path)) if "mlops_ci.backends.local.serve" in " ".join(p.cmdline())]
    assert len(servers) == 3  # the old generation and the failed one are gone


def test_promote_exactly_what_the_source_service_runs(step: Step, no_stray_processes: None) -> None:  # noqa: F811
    project = make_project(Path.cwd())
    project.json("aks.json", AKS)
    _register(step, "2")
    tested = step.action("deploy-aci", backend="local", model="factor", service_name="wine-test",
                         inference_config="inferenceconfig.json", sample_request="sample.json")
    assert tested.status == 0, tested.stdout
    _register(step, "7")  # a newer version appears meanwhile and the source folder changes: neither is promoted
    project.write("src/score.py", "raise ImportError('edited after the test deployment')\n")
    promoted = step.action("promote-aks", backend="local", source_service="wine-test", service_name="wine-prod",
                           deployment_config="aks.json", sample_request="sample.json")
    assert promoted.status == 0, promoted.stdout
    assert promoted.outputs["model-ids"] == "factor:1"
    with requests.Session() as http:
        http.trust_env = False
        reply = http.post(promoted.outputs["scoring-uri"], '{"data": [1]}',
                          headers={"Authorization": f"Bearer {promoted.outputs['scoring-key']}"}, timeout=30)
    assert reply.json() == {"result": [2.0]}
    assert promoted.outputs["scoring-key"] != tested.outputs["scoring-key"]


def test_first_promotion_that_fails_leaves_nothing_running(step: Step, tmp_path: Path,
                                                           no_stray_processes: None) -> None:  # noqa: F811
    project = make_project(Path.cwd())
    project.json("aks.json", AKS)
    _register(step, "2")
    failed = _promote(step, "factor:1", [0.0])
    assert failed.status == 1
    assert (failed.outputs["rolled-back"], failed.outputs["previous-model-ids"]) == ("false", "")
    assert processes_under(str(tmp_path)) == []
