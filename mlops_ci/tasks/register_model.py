"""register-model: register model files or folders as new versions, or reuse the latest when the content is equal."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlops_ci import summary
from mlops_ci.context import Context, TaskResult
from mlops_ci.domain import ModelRegistration, RegisteredModel
from mlops_ci.errors import InputError, MlopsCiError
from mlops_ci.inputs import Inputs


@dataclass(frozen=True)
class Options:
    paths: tuple[Path, ...]
    names: tuple[str, ...]  # names[i] is the model registered from paths[i]
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    framework: str = ""
    force_new_version: bool = False

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        # Every path and name is checked before anything is registered: a bad second entry registers nothing.
        paths = tuple(_one_path(inputs, "model-path", item) for item in inputs.items("model-path"))
        if not paths:
            raise InputError("model-path", "Input 'model-path' is required.",
                             fix="Name the model file or folder to register (one per line for several).")
        names = tuple(_one_name(inputs, item) for item in inputs.items("model-name"))
        if not names:
            raise InputError("model-name", "Input 'model-name' is required.",
                             fix="Name the registered model (one name per model-path entry, in the same order).")
        if len(names) != len(paths):
            raise InputError("model-name", f"Input 'model-name' has {len(names)} names for {len(paths)} model-path "
                             "entries.", fix="Give one name per model-path entry, in the same order.")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise InputError("model-name", f"Input 'model-name' names '{twice[0]}' more than once.",
                             fix="Give each model its own name: two paths under one name would make two versions in "
                                 "one step.")
        tags = {**ctx.settings.github.provenance_tags(), **inputs.mapping("model-tags")}
        return cls(
            paths=paths,
            names=names,
            description=inputs.text("model-description"),
            tags=tags,
            properties=inputs.mapping("model-properties"),
            framework=inputs.text("model-framework"),
            force_new_version=inputs.boolean("force-new-version"),
        )


def _one_path(inputs: Inputs, name: str, value: str) -> Path:
    path = Inputs({name: value}, base_dir=inputs.base_dir).path(name)
    assert path is not None
    return path


def _one_name(inputs: Inputs, value: str) -> str:
    return Inputs({"model-name": value}, base_dir=inputs.base_dir).name("model-name")


def run(options: Options, ctx: Context) -> TaskResult:
    models: list[RegisteredModel] = []
    for path, name in zip(options.paths, options.names, strict=True):
        try:
            model = ctx.backend.register_model(ModelRegistration(
                path=path, name=name, description=options.description, tags=options.tags,
                properties=options.properties, framework=options.framework,
                force_new_version=options.force_new_version,
            ))
        except MlopsCiError as exc:
            if models:
                # What was registered stays registered; a rerun reuses it by content hash.
                exc.outputs.update(_outputs(models))
                exc.why = ((exc.why + " ") if exc.why else "") + (
                    "Registered before the failure (a rerun reuses them): " + ", ".join(m.id for m in models) + ".")
            raise
        ctx.runner.info(f"{'Reused' if model.reused else 'Registered'} model {model.id} "
                        f"(sha256 {model.sha256[:12]}…).")
        models.append(model)
    if len(models) == 1:
        model, path = models[0], options.paths[0]
        if model.reused:
            done = (f"The content of `{path.name}` is identical to the latest version of `{model.name}`, so version "
                    f"**{model.version}** was reused: nothing new was registered.")
        else:
            done = f"Registered `{path.name}` as model `{model.name}` version **{model.version}**."
        details = ""
    else:
        registered = sum(1 for m in models if not m.reused)
        done = (f"{len(models)} models: {registered} registered as new versions, {len(models) - registered} reused "
                "(identical to their latest version).")
        rows = "\n".join(f"| `{p.name}` | `{m.name}` | **{m.version}** | {'reused' if m.reused else 'registered'} |"
                         for p, m in zip(options.paths, models, strict=True))
        details = summary.render("register-models.md", rows=rows)
    return TaskResult(outputs=_outputs(models), done=done, details=details)


def _outputs(models: list[RegisteredModel]) -> dict[str, str]:
    """One model: its values. Several: comma-separated, in the order of model-path."""
    return {
        "model-name": ",".join(m.name for m in models),
        "model-version": ",".join(str(m.version) for m in models),
        "model-id": ",".join(m.id for m in models),
        "model-sha256": ",".join(m.sha256 for m in models),
        "model-reused": ",".join("true" if m.reused else "false" for m in models),
        "model-ids": ",".join(m.id for m in models),
    }
