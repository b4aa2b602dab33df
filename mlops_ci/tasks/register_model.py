"""register-model: register a model file or folder as a new version, or reuse the latest when the content is equal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlops_ci.context import Context, TaskResult
from mlops_ci.domain import ModelRegistration
from mlops_ci.inputs import Inputs


@dataclass(frozen=True)
class Options:
    path: Path
    name: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    framework: str = ""
    force_new_version: bool = False

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        path = inputs.path("model-path")
        assert path is not None
        tags = {**ctx.settings.github.provenance_tags(), **inputs.mapping("model-tags")}
        return cls(
            path=path,
            name=inputs.name("model-name"),
            description=inputs.text("model-description"),
            tags=tags,
            properties=inputs.mapping("model-properties"),
            framework=inputs.text("model-framework"),
            force_new_version=inputs.boolean("force-new-version"),
        )


def run(options: Options, ctx: Context) -> TaskResult:
    model = ctx.backend.register_model(ModelRegistration(
        path=options.path, name=options.name, description=options.description, tags=options.tags,
        properties=options.properties, framework=options.framework, force_new_version=options.force_new_version,
    ))
    if model.reused:
        done = (f"The content of `{options.path.name}` is identical to the latest version of `{model.name}`, so version "
                f"**{model.version}** was reused: nothing new was registered.")
    else:
        done = f"Registered `{options.path.name}` as model `{model.name}` version **{model.version}**."
    ctx.runner.info(f"{'Reused' if model.reused else 'Registered'} model {model.id} (sha256 {model.sha256[:12]}…).")
    return TaskResult(
        outputs={
            "model-name": model.name,
            "model-version": str(model.version),
            "model-id": model.id,
            "model-sha256": model.sha256,
            "model-reused": "true" if model.reused else "false",
        },
        done=done,
    )
