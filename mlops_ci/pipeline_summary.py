"""The job summary of pipeline tasks: the steps table and a Mermaid graph of the pipeline, from templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlops_ci import summary
from mlops_ci.domain import CANCELED, COMPLETED, FAILED, NOT_STARTED, RUNNING, PipelineRun, PublishedPipeline

ICONS = {COMPLETED: "✅", FAILED: "❌", CANCELED: "⛔", RUNNING: "⏳", NOT_STARTED: "⏸️"}
CLASSES = {COMPLETED: "completed", FAILED: "failed", CANCELED: "canceled", RUNNING: "running",
           NOT_STARTED: "notstarted"}
CLASS_STYLES = (
    "classDef completed fill:#dafbe1,stroke:#1a7f37",
    "classDef failed fill:#ffebe9,stroke:#cf222e",
    "classDef canceled fill:#eaeef2,stroke:#57606a",
    "classDef running fill:#fff8c5,stroke:#9a6700",
    "classDef notstarted fill:#ffffff,stroke:#8c959f,stroke-dasharray:3",
)


def _label(text: str) -> str:
    # Mermaid labels are quoted; a quote or a bracket inside must be an entity.
    return text.replace('"', "#quot;").replace("[", "#91;").replace("]", "#93;")


def mermaid(steps: Sequence[str], edges: Sequence[tuple[str, str, str]],
            statuses: Mapping[str, str] | None = None) -> str:
    ids = {name: f"s{index}" for index, name in enumerate(steps)}
    lines = ["graph LR"]
    for name in steps:
        status = (statuses or {}).get(name)
        label = f"{name} {ICONS.get(status, '')}".strip() if status else name
        lines.append(f'  {ids[name]}["{_label(label)}"]')
    for source, target, data in edges:
        arrow = f'-->|"{_label(data)}"|' if data else "-->"
        lines.append(f"  {ids[source]} {arrow} {ids[target]}")
    if statuses:
        lines.extend(f"  {line}" for line in CLASS_STYLES)
        for name in steps:
            if name in statuses:
                lines.append(f"  class {ids[name]} {CLASSES.get(statuses[name], 'notstarted')}")
    return "\n".join(lines)


def published(pipeline: PublishedPipeline) -> str:
    params = ""
    if pipeline.parameters:
        rows = [f"| `{name}` | {summary.cell(value)} |" for name, value in pipeline.parameters.items()]
        params = "\n".join(["| parameter | default |", "| --- | --- |", *rows])
    return summary.render("pipeline_published.md", pipeline=pipeline.name, version=pipeline.version, parameters=params,
                          graph=mermaid(pipeline.steps, pipeline.edges))


def run_details(run: PipelineRun) -> str:
    edges = [(dep, step.name, "") for step in run.steps for dep in step.depends_on]
    rows = []
    for step in run.steps:
        took = f"{step.duration_seconds:.1f} s" if step.duration_seconds is not None else "–"
        rows.append(f"| `{step.name}` | {ICONS.get(step.status, '')} {step.status} | {took} | "
                    f"{'yes' if step.reused_from else ''} |")
    return summary.render("pipeline_run.md", run_id=run.id, status=f"{ICONS.get(run.status, '')} {run.status}",
                          rows="\n".join(rows), graph=mermaid([s.name for s in run.steps], edges,
                                                              {s.name: s.status for s in run.steps}))
