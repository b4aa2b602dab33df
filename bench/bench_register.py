"""Register a large file on the local workspace: first registration and reuse, beside sha256sum of the same file."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from _common import PYTHON, clean_env, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write the file (default: a temporary folder)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mlops-ci-bench-", dir=args.dir))
    try:
        model = base / "big-model.bin"
        with open(model, "wb") as handle:
            block = os.urandom(1 << 20)
            for index in range(args.size_mib):
                handle.write(block[:-4] + index.to_bytes(4, "little"))
        size_mb = model.stat().st_size / 1e6
        subprocess.run(["sha256sum", str(model)], check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        register = [PYTHON, "-m", "mlops_ci", "register-model", "--backend", "local", "--model-path", str(model),
                    "--model-name", "big"]
        reference, first, reused = [], [], []
        for run in range(args.runs):
            workspace = base / f"ws-{run}"
            reference.append(timed(["sha256sum", str(model)]))
            started = time.perf_counter()
            subprocess.run([*register, "--workspace-dir", str(workspace)], check=True, env=clean_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            first.append(time.perf_counter() - started)
            reused.append(timed([*register, "--workspace-dir", str(workspace)]))
            shutil.rmtree(workspace)
        ref, fst, reu = (statistics.median(x) for x in (reference, first, reused))
        print(f"file: {size_mb:.0f} MB, median of {args.runs} runs")
        print(f"sha256sum (reference)      {ref:7.2f} s  {size_mb / ref:7.0f} MB/s")
        print(f"first registration         {fst:7.2f} s  {size_mb / fst:7.0f} MB/s  {fst / ref:5.2f}x sha256sum"
              "  (goal <= 2.0x)")
        print(f"re-registration (reused)   {reu:7.2f} s  {size_mb / reu:7.0f} MB/s  {reu / ref:5.2f}x sha256sum"
              "  (goal <= 1.2x)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
