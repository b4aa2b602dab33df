"""Shared helpers for the benchmark scripts: timing a command a few times and taking the median."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}


def timed(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env or clean_env(), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_of(runs: int, argv: list[str], **kwargs: object) -> float:
    return statistics.median(timed(argv, **kwargs) for _ in range(runs))  # type: ignore[arg-type]
