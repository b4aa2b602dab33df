"""Benchmark of the local pipeline engine: per-step overhead, a wide fan-out, and the HTTP trigger's latency.

Run:  .venv/bin/python bench/bench_pipeline.py [--rounds 3] [--posts 30]

Every figure is beside a reference measured in the same run: starting `python -c pass` (the floor of any step,
which is a Python process) ten times in a row, and, for the fan-out, 100 such starts two at a time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import requests

from mlops_ci.backends.local import server
from mlops_ci.backends.local.backend import LocalBackend
from mlops_ci.backends.local.workspace import LocalWorkspace
from mlops_ci.pipelineyaml import load_pipeline_yaml
from mlops_ci.runner import Runner


def chain_yaml(count: int) -> str:
    lines = ["pipeline:", "  steps:"]
    for i in range(count):
        lines += [f"    s{i}:", "      type: PythonScriptStep", "      script_name: noop.py",
                  "      source_directory: src", "      allow_reuse: false"]
        if i:
            lines += [f"      inputs: {{i: {{source: d{i - 1}}}}}"]
        lines += [f"      outputs: {{o: {{destination: d{i}}}}}"]
        lines += ["      arguments: [" + ("'input:i', " if i else "") + "'output:o']"]
    return "\n".join(lines) + "\n"


def fan_yaml(count: int) -> str:
    lines = ["pipeline:", "  steps:"]
    for i in range(count):
        lines += [f"    s{i}:", "      type: PythonScriptStep", "      script_name: noop.py",
                  "      source_directory: src", "      allow_reuse: false"]
    return "\n".join(lines) + "\n"


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def python_pass(times: int, parallel: int = 1) -> float:
    def one(_: int) -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(times)))
    return time.perf_counter() - started


def run_pipeline(backend: LocalBackend, pipeline_id: str, parallel: int) -> tuple[float, float]:
    """(seconds on the engine's own clock, first step start to last step end; seconds from submit to Completed)."""
    started = time.perf_counter()
    run = backend.submit_pipeline(pipeline_id, experiment_name="bench", max_parallel_steps=parallel)
    while not (run := backend.get_pipeline_run(run.id)).finished:
        time.sleep(0.002)
    total = time.perf_counter() - started
    assert run.status == "Completed", run.error
    engine = stamp(max(s.finished_at for s in run.steps)) - stamp(min(s.started_at for s in run.steps))
    return engine, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--posts", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "src").mkdir()
        (work / "src" / "noop.py").write_text("", encoding="utf-8")
        (work / "chain.yml").write_text(chain_yaml(10), encoding="utf-8")
        (work / "fan.yml").write_text(fan_yaml(100), encoding="utf-8")
        (work / "one.yml").write_text(fan_yaml(1), encoding="utf-8")
        root = work / "ws"
        backend = LocalBackend(LocalWorkspace(root), Runner({}))
        try:
            chain = backend.publish_pipeline(load_pipeline_yaml(work / "chain.yml", work), name="chain")
            fan = backend.publish_pipeline(load_pipeline_yaml(work / "fan.yml", work), name="fan")
            one = backend.publish_pipeline(load_pipeline_yaml(work / "one.yml", work), name="one")
            python_pass(3)  # warm the page cache
            run_pipeline(backend, chain.id, 1)

            refs, engines, totals = [], [], []
            for _ in range(args.rounds):
                refs.append(python_pass(10))
                engine, total = run_pipeline(backend, chain.id, 1)
                engines.append(engine)
                totals.append(total)
            ref, engine, total = (statistics.median(x) for x in (refs, engines, totals))
            print(f"10-step chain, median of {args.rounds} rounds")
            print(f"  python -c pass x10 (reference)      {ref * 1000:8.1f} ms   1.00x")
            print(f"  engine clock, first start..last end {engine * 1000:8.1f} ms   {engine / ref:.2f}x   "
                  f"overhead {(engine - ref) / 10 * 1000:+.1f} ms/step")
            print(f"  submit .. Completed (engine start)  {total * 1000:8.1f} ms   {total / ref:.2f}x")

            fan_refs, fan_engines, fan_totals = [], [], []
            for _ in range(args.rounds):
                fan_refs.append(python_pass(100, parallel=2))
                engine, total = run_pipeline(backend, fan.id, 2)
                fan_engines.append(engine)
                fan_totals.append(total)
            ref, engine, total = (statistics.median(x) for x in (fan_refs, fan_engines, fan_totals))
            print(f"100-step fan-out, 2 parallel, median of {args.rounds} rounds")
            print(f"  python -c pass x100, 2 at a time    {ref * 1000:8.1f} ms   1.00x")
            print(f"  engine clock, first start..last end {engine * 1000:8.1f} ms   {engine / ref:.2f}x")
            print(f"  submit .. Completed (engine start)  {total * 1000:8.1f} ms   {total / ref:.2f}x")

            url = server.pipeline_url(server.base_url(root), one.id)
            headers = backend.get_authentication_header()
            for label, session in (("new connection each", None), ("keep-alive session", requests.Session())):
                latencies = []
                for _ in range(args.posts):
                    started = time.perf_counter()
                    if session is None:
                        reply = requests.post(url, headers=headers, json={"ExperimentName": "bench"}, timeout=10)
                    else:
                        reply = session.post(url, headers=headers, json={"ExperimentName": "bench"}, timeout=10)
                    latencies.append(time.perf_counter() - started)
                    run_id = reply.json()["Id"]
                    while not backend.get_pipeline_run(run_id).finished:  # no run in the background while timing
                        time.sleep(0.005)
                latencies.sort()
                p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
                print(f"trigger POST -> Id ({label}, {args.posts} posts): median "
                      f"{statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
                      f"max {latencies[-1] * 1000:.1f} ms (goal < 50 ms)")
        finally:
            server.stop(root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
