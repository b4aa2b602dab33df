"""register-dataset: register a local file or folder, or a URL by reference, as a versioned dataset."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mlops_ci.context import Context, TaskResult
from mlops_ci.domain import DatasetRegistration
from mlops_ci.errors import InputError
from mlops_ci.inputs import Inputs

DATASET_TYPES = ("tabular", "file")


@dataclass(frozen=True)
class Options:
    name: str
    dataset_type: str
    path: Path | None = None
    url: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_inputs(cls, inputs: Inputs, ctx: Context) -> Options:
        raw = inputs.text("dataset-path", required=True, fix="Set 'dataset-path' to a file, a folder or an https URL.")
        url, path = "", None
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", raw):
            parts = urlsplit(raw)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise InputError("dataset-path", f"Input 'dataset-path' is a '{parts.scheme}' URL, which is not "
                                 "supported.", fix="Use an http(s) URL, or a local file or folder.")
            if parts.username or parts.password:
                raise InputError("dataset-path", "Input 'dataset-path' carries credentials in its URL.",
                                 fix="Use a URL without user:password (a SAS token in the query is fine).")
            url = raw
        else:
            path = inputs.path("dataset-path")
        return cls(
            name=inputs.name("dataset-name"),
            dataset_type=inputs.choice("dataset-type", DATASET_TYPES),
            path=path,
            url=url,
            description=inputs.text("dataset-description"),
            tags={**ctx.settings.github.provenance_tags(), **inputs.mapping("dataset-tags")},
        )


def run(options: Options, ctx: Context) -> TaskResult:
    dataset = ctx.backend.register_dataset(DatasetRegistration(
        name=options.name, dataset_type=options.dataset_type, path=options.path, url=options.url,
        description=options.description, tags=options.tags,
    ))
    source = f"<{options.url}>" if options.url else f"`{options.path.name if options.path else ''}`"
    if dataset.reused:
        done = (f"{source} is unchanged since the latest version of dataset `{dataset.name}`, so version "
                f"**{dataset.version}** was reused.")
    else:
        kind = "a reference to " if options.url else ""
        done = f"Registered {kind}{source} as {dataset.dataset_type} dataset `{dataset.name}` version **{dataset.version}**."
    if dataset.columns:
        done += f" Columns: {', '.join(f'`{c}`' for c in dataset.columns[:30])}."
    ctx.runner.info(f"{'Reused' if dataset.reused else 'Registered'} dataset {dataset.id}.")
    return TaskResult(
        outputs={
            "dataset-name": dataset.name,
            "dataset-version": str(dataset.version),
            "dataset-id": dataset.id,
            "dataset-reused": "true" if dataset.reused else "false",
        },
        done=done,
    )
