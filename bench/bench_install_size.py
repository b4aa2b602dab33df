"""Installed size of the Azure v1 runtime dependencies beside the full azureml-pipeline meta package, in fresh venvs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SETS = {
    "empty venv (reference)": [],
    "mlops-ci azure extra: azureml-core + azureml-pipeline-core + azure-identity":
        ["azureml-core>=1.61,<2", "azureml-pipeline-core>=1.62,<2", "azure-identity>=1.17,<2"],
    "full azureml-pipeline meta package (+ azureml-core, azure-identity)":
        ["azureml-core>=1.61,<2", "azureml-pipeline", "azure-identity>=1.17,<2"],
}


def site_packages_mb(venv: Path) -> float:
    site = next((venv / "lib").glob("python3.*/site-packages"))
    return sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="mlops-ci-size-"))
    try:
        sizes = {}
        for index, (label, requirements) in enumerate(SETS.items()):
            venv = base / f"v{index}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            if requirements:
                subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            sizes[label] = site_packages_mb(venv)
        reference = sizes["empty venv (reference)"]
        for label, size in sizes.items():
            print(f"{size:8.0f} MB  {size - reference:8.0f} MB over an empty venv  {label}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
