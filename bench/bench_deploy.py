"""Benchmark of local deployments: time to a healthy endpoint, time to a preflight failure, and what key auth costs.

Run:  .venv/bin/python bench/bench_deploy.py [--rounds 3] [--seconds 3]

Every figure is measured in this run, beside its reference: the endpoint with key auth against bare `azmlinfsrv`
serving the same score.py (same gunicorn sync worker, one worker each), in alternating rounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCORE = '''\
import json

def init():
    pass

def run(raw_data):
    return {"result": json.loads(raw_data)["data"]}
'''
BROKEN = "def init(model_path):\n    pass\n\ndef run(raw_data):\n    return raw_data\n"
BODY = json.dumps({"data": [[1.0, 2.0, 3.0, 4.0]]}).encode()
MLOPS_CI = str(Path(sys.executable).with_name("mlops-ci"))


def _run(argv: list[str], cwd: Path) -> tuple[float, int, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    started = time.perf_counter()
    done = subprocess.run([MLOPS_CI, *argv], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300,
                          check=False)
    return time.perf_counter() - started, done.returncode, done.stdout


def project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "score.py").write_text(SCORE, encoding="utf-8")
    (root / "model.txt").write_text("1", encoding="utf-8")
    (root / "inferenceconfig.json").write_text(json.dumps({"entryScript": "score.py", "sourceDirectory": "src"}))
    (root / "sample.json").write_text(BODY.decode(), encoding="utf-8")
    return root


def deploy_times(root: Path, rounds: int) -> tuple[list[float], list[float]]:
    common = ["--backend", "local", "--inference-config", "inferenceconfig.json", "--sample-request", "sample.json"]
    _, status, _ = _run(["register-model", "--backend", "local", "--model-path", "model.txt", "--model-name", "m"],
                        root)
    assert status == 0
    healthy, failing = [], []
    for index in range(rounds):
        seconds, status, _ = _run(["deploy-aci", "--model", "m", "--service-name", f"bench-{index}", *common], root)
        assert status == 0, "deploy-aci failed"
        healthy.append(seconds)
        _run(["delete-service", "--backend", "local", "--service-name", f"bench-{index}"], root)
    (root / "src" / "score.py").write_text(BROKEN, encoding="utf-8")
    for index in range(rounds):
        seconds, status, _ = _run(["deploy-aci", "--model", "m", "--service-name", f"broken-{index}", *common], root)
        assert status == 1, "the broken score.py was not caught"
        failing.append(seconds)
    (root / "src" / "score.py").write_text(SCORE, encoding="utf-8")
    return healthy, failing


# -- load -------------------------------------------------------------------------------------------------------
def _client(port: int, key: str, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    headers = {"Content-Type": "application/json", "Content-Length": str(len(BODY))}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/score", BODY, headers)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}")
        latencies.append((time.perf_counter() - started) * 1000)
    queue.put(latencies)


def measure(port: int, key: str, seconds: float, clients: int) -> tuple[float, float, float]:
    """(requests per second, p50 ms, p99 ms) with `clients` closed-loop client processes."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.Process(target=_client, args=(port, key, seconds, queue)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    for _ in procs:
        latencies += queue.get(timeout=seconds + 60)
    for proc in procs:
        proc.join(timeout=30)
    latencies.sort()
    return len(latencies) / seconds, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


def auth_gate_cost_us(calls: int = 200_000) -> float:
    """Microseconds the key check adds to one request: AuthGate(app) minus app, same WSGI environ."""
    from mlops_ci.backends.local.auth import AuthGate, ServiceSecrets

    found = ServiceSecrets.create("key")

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        return [b""]

    gate = AuthGate(app, found, "bench")
    environ = {"PATH_INFO": "/score", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(BODY)),
               "HTTP_AUTHORIZATION": f"Bearer {found.secondary}"}
    best = {}
    for name, target in (("app", app), ("gate", gate)):
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                target(environ, None)
            runs.append(time.perf_counter() - started)
        best[name] = min(runs)
    return (best["gate"] - best["app"]) / calls * 1e6


def bare_azmlinfsrv(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """azmlinfsrv exactly as Azure runs it, except bound to 127.0.0.1 (its default is 0.0.0.0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = ("import sys; from azureml_inference_server_http import amlserver; amlserver.DEFAULT_HOST = '127.0.0.1'; "
            f"sys.argv = ['azmlinfsrv', '--entry_script', 'score.py', '--model_dir', {str(root)!r}, "
            f"'--port', '{port}']; amlserver.run()")
    environ = {**os.environ, "HOME": str(root)}  # gunicorn's control socket goes under HOME
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root / "src", env=environ, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("bare azmlinfsrv did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()

    from mlops_ci.backends.local.backend import LocalBackend
    from mlops_ci.backends.local.workspace import LocalWorkspace
    from mlops_ci.deployconfig import DeploymentConfig, inference_config_from_dict
    from mlops_ci.domain import ServiceSpec
    from mlops_ci.runner import Runner

    root = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    bare = None
    backend = None
    try:
        project(root)
        healthy, failing = deploy_times(root, args.rounds)
        print(f"deploy-aci to a healthy, smoke-tested endpoint: median {statistics.median(healthy):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in healthy)}; goal < 5 s)")
        print(f"deploy-aci with a broken score.py to its preflight failure: median {statistics.median(failing):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in failing)}; goal < 3 s)")

        backend = LocalBackend(LocalWorkspace(root / ".mlops-ci"), Runner({}))
        model = backend.get_model("m")
        inference = inference_config_from_dict("inference-config", {"entryScript": "score.py",
                                                                     "sourceDirectory": "src"}, base=root)
        keyed = backend.begin_create_or_update_service(ServiceSpec(
            "keyed", (model,), inference, DeploymentConfig(compute_type="ACI"))).result(60)
        open_ = backend.begin_create_or_update_service(ServiceSpec(
            "open", (model,), inference, DeploymentConfig(compute_type="ACI", auth_enabled=False))).result(60)
        key = backend.get_service_keys("keyed").primary
        bare, bare_port = bare_azmlinfsrv(root)
        targets = {
            "bare azmlinfsrv (no auth)": (bare_port, ""),
            "local endpoint, auth off": (int(open_.scoring_uri.split(":")[2].split("/")[0]), ""),
            "local endpoint, key auth": (int(keyed.scoring_uri.split(":")[2].split("/")[0]), key),
        }
        results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in targets}
        for port, credential in targets.values():
            measure(port, credential, 0.5, args.clients)  # warm-up
        for _ in range(args.rounds):
            for name, (port, credential) in targets.items():
                results[name].append(measure(port, credential, args.seconds, args.clients))
        reference = statistics.median(r[0] for r in results["bare azmlinfsrv (no auth)"])
        print(f"\nscoring, {args.clients} closed-loop client(s), {args.rounds} alternating rounds of {args.seconds:.0f} s,"
              " one gunicorn sync worker each:")
        print(f"{'server':32} {'req/s':>8} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, rows in results.items():
            rps = statistics.median(r[0] for r in rows)
            p50 = statistics.median(r[1] for r in rows)
            p99 = statistics.median(r[2] for r in rows)
            print(f"{name:32} {rps:8.0f} {rps / reference:8.3f} {p50:8.2f} {p99:8.2f}")
        gate_us = auth_gate_cost_us()
        bare_p50 = statistics.median(r[1] for r in results["bare azmlinfsrv (no auth)"])
        print(f"\nthe key check itself (AuthGate around a no-op WSGI app, in-process): {gate_us:.2f} µs per request"
              f" = {gate_us / (bare_p50 * 1000) * 100:.2f} % of bare azmlinfsrv's p50 request time")
    finally:
        if bare is not None:
            os.killpg(bare.pid, signal.SIGTERM)
            bare.wait(timeout=30)
        if backend is not None:
            for service in backend.list_services():
                backend.delete_service(service.name)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
