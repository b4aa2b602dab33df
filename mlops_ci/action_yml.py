"""Renders action.yml from the declarations in spec.py: `python -m mlops_ci.action_yml > action.yml`."""

from __future__ import annotations

import json

from mlops_ci.spec import OUTPUTS, all_inputs

HEADER = """\
# Generated from mlops_ci/spec.py by `python -m mlops_ci.action_yml > action.yml`; edit spec.py, not this file.
name: mlops-ci
description: Azure Machine Learning MLOps tasks for CI - register, deploy, smoke-test, promote, run pipelines.
author: mlops-ci
branding:
  icon: cpu
  color: blue
"""


def _quote(text: str) -> str:
    # JSON strings are valid YAML double-quoted scalars.
    return json.dumps(text, ensure_ascii=False)


def render() -> str:
    lines = [HEADER.rstrip("\n"), "inputs:"]
    for spec in all_inputs():
        lines.append(f"  {spec.name}:")
        lines.append(f"    description: {_quote(spec.description)}")
        lines.append(f"    required: {'true' if spec.required else 'false'}")
        if spec.action_default or spec.default:
            lines.append(f"    default: {_quote(spec.action_default or spec.default)}")
    lines.append("outputs:")
    for output in OUTPUTS:
        lines.append(f"  {output.name}:")
        lines.append(f"    description: {_quote(output.description)}")
    lines += ["runs:", "  using: docker", "  image: Dockerfile"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(render())
