"""The Markdown job summary, rendered from the template files in mlops_ci/templates/."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from string import Template

from mlops_ci.runner import MASK


@cache
def template(name: str) -> Template:
    return Template(resources.files("mlops_ci").joinpath("templates", name).read_text(encoding="utf-8"))


def cell(value: str) -> str:
    """A value safe inside a Markdown table cell."""
    text = value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")
    return f"`{text}`" if text and "`" not in text and len(text) <= 200 else text


def outputs_table(outputs: Mapping[str, str], secret_names: Iterable[str]) -> str:
    secrets = set(secret_names)
    rows = [f"| `{name}` | {cell(MASK if name in secrets and value else value)} |" for name, value in outputs.items()]
    return "\n".join(["| output | value |", "| --- | --- |", *rows]) if rows else ""


def links_list(links: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"- [{label}]({url})" for label, url in links if url)


def render(name: str, **values: str) -> str:
    return template(name).safe_substitute(**values).strip() + "\n"


def tail(text: str, lines: int = 100) -> str:
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)
