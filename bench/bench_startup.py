"""Process start to outputs written for a local register-model of a small file, beside bare Python start-ups."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import PYTHON, median_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="mlops-ci-bench-"))
    try:
        model = base / "small.onnx"
        model.write_bytes(b"small model" * 100)
        out = base / "out.txt"
        register = [PYTHON, "-m", "mlops_ci", "register-model", "--backend", "local", "--workspace-dir",
                    str(base / "ws"), "--model-path", str(model), "--model-name", "small"]
        median_of(2, register)  # create the workspace and warm the caches
        bare = median_of(args.runs, [PYTHON, "-c", "pass"])
        azure = median_of(max(3, args.runs // 3), [PYTHON, "-c", "import azureml.core"])
        ours = median_of(args.runs, register)
        env_probe = [PYTHON, "-c", "import sys, runpy; sys.argv = ['mlops-ci'] + sys.argv[1:]; "
                     "from mlops_ci.cli import main; main(); "
                     "print(int(any(m.split('.')[0] in ('azureml', 'azure') for m in sys.modules)))", *register[3:]]
        import subprocess

        loaded = subprocess.run(env_probe, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        out.unlink(missing_ok=True)
        print(f"median of {args.runs} runs")
        print(f"python -c pass                      {bare * 1000:7.1f} ms")
        print(f"python -c 'import azureml.core'     {azure * 1000:7.1f} ms")
        print(f"mlops-ci register-model (reused)    {ours * 1000:7.1f} ms")
        print(f"our own overhead (ours - bare)      {(ours - bare) * 1000:7.1f} ms  (goal < 300 ms)")
        print(f"ratio ours / bare python            {ours / bare:7.2f}x")
        print(f"Azure SDK imported on the local path: {'yes' if loaded == '1' else 'no'}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
