"""The pull-request comment: one per workflow and subject, found by a hidden marker and updated in place."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_ci import summary
from mlops_ci.github.event import GithubEvent

if TYPE_CHECKING:
    from github.Repository import Repository

MARKER = "<!-- mlops-ci:pr-comment {key} -->"
_STATE = re.compile(r"<!-- mlops-ci:state (\{.*?\}) -->", re.S)
STATE_VERSION = 1
# Sections appear in the order a workflow usually runs its tasks, whatever order they ran in.
TASK_ORDER = ("register-model", "publish-pipeline", "deploy-aci", "promote-aks", "smoke-test", "trigger-pipeline",
              "delete-service")
# Outputs that say nothing to a reviewer; secrets are left out before this list is consulted.
HIDDEN_OUTPUTS = frozenset({"backend"})
MAX_VALUE = 300


@dataclass(frozen=True)
class Section:
    """What one task showed: its outcome, the outputs worth reading, links, and the error when it failed."""

    task: str
    ok: bool
    at: str
    commit: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"task": self.task, "ok": self.ok, "at": self.at, "commit": self.commit,
                "fields": [list(f) for f in self.fields], "links": [list(link) for link in self.links],
                "message": self.message}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Section:
        return cls(task=str(data["task"]), ok=bool(data["ok"]), at=str(data.get("at", "")),
                   commit=str(data.get("commit", "")),
                   fields=tuple((str(k), str(v)) for k, v in data.get("fields", ())),
                   links=tuple((str(k), str(v)) for k, v in data.get("links", ())),
                   message=str(data.get("message", "")))


@dataclass
class CommentState:
    """The comment's identity and the latest section of each task, kept inside the comment itself."""

    workflow: str
    subject: str
    sections: dict[str, Section] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return comment_key(self.workflow, self.subject)


def comment_key(workflow: str, subject: str) -> str:
    # A digest keeps arbitrary workflow names out of the HTML comment and the marker a fixed, searchable shape.
    return hashlib.sha256(f"{workflow}\0{subject}".encode()).hexdigest()[:20]


def shown_fields(outputs: Mapping[str, str], secret_names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The outputs a reviewer reads: never a secret, never a long or multi-line value."""
    secrets = set(secret_names)
    return tuple((name, value) for name, value in outputs.items()
                 if name not in secrets and name not in HIDDEN_OUTPUTS and value
                 and "\n" not in value and len(value) <= MAX_VALUE)


def _encode_state(state: CommentState) -> str:
    data = {"v": STATE_VERSION, "workflow": state.workflow, "subject": state.subject,
            "sections": [state.sections[t].to_json() for t in _ordered(state.sections)]}
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    # Inside an HTML comment "--" and ">" would end it early; JSON escapes keep the text identical once parsed.
    return text.replace("-", "\\u002d").replace(">", "\\u003e")


def parse_state(body: str, workflow: str, subject: str) -> CommentState:
    """The state stored in an earlier comment; a comment we cannot read starts afresh rather than failing."""
    state = CommentState(workflow=workflow, subject=subject)
    match = _STATE.search(body)
    if not match:
        return state
    try:
        data = json.loads(match.group(1))
        if data.get("v") != STATE_VERSION:
            return state
        for item in data.get("sections", ()):
            section = Section.from_json(item)
            state.sections[section.task] = section
    except (ValueError, KeyError, TypeError, AttributeError):
        return CommentState(workflow=workflow, subject=subject)
    return state


def _ordered(sections: Mapping[str, Section]) -> list[str]:
    rank = {task: i for i, task in enumerate(TASK_ORDER)}
    return sorted(sections, key=lambda t: (rank.get(t, len(TASK_ORDER)), t))


def _value(value: str) -> str:
    if value.startswith(("https://", "http://")) and " " not in value:
        return f"<{value}>"
    return summary.cell(value)


def render(state: CommentState, event: GithubEvent, kind: str, name: str) -> str:
    sections = []
    for task in _ordered(state.sections):
        section = state.sections[task]
        table = ""
        if section.fields:
            rows = [f"| `{label}` | {_value(value)} |" for label, value in section.fields]
            table = "\n".join(["| output | value |", "| --- | --- |", *rows])
        commit = f" · commit `{section.commit[:7]}`" if section.commit else ""
        sections.append(summary.render(
            "pr-comment-section.md", icon="✅" if section.ok else "❌", task=task,
            outcome="succeeded" if section.ok else "failed", at=section.at, commit=commit,
            message=f"> {section.message}" if section.message else "", table=table,
            links=summary.links_list(section.links)))
    failed = any(not s.ok for s in state.sections.values())
    commit = f"[`{event.commit[:7]}`]({event.commit_url})" if event.commit_url else f"`{event.commit[:7]}`"
    run = f" · [workflow run]({event.run_url})" if event.run_url else ""
    body = summary.render(
        "pr-comment.md", marker=MARKER.format(key=state.key), icon="❌" if failed else "✅", kind=kind,
        subject=summary.cell(name), sections="\n".join(sections), commit=commit, run=run,
        workflow=summary.cell(state.workflow or "?"),
        state=f"<!-- mlops-ci:state {_encode_state(state)} -->")
    return re.sub(r"\n{3,}", "\n\n", body)  # sections without a message or links leave blank runs


def upsert(repo: Repository, number: int, key: str, build: Callable[[str], str]) -> tuple[str, str]:
    """Update the pull request's comment that carries the marker, or create it; returns (created|updated, url).

    `build` receives the body of the existing comment ("" when there is none) and returns the new body.
    """
    marker = MARKER.format(key=key)
    issue = repo.get_issue(number)
    found = [c for c in issue.get_comments() if (c.body or "").startswith(marker)]
    if found:
        # An earlier concurrent run may have left two: keep writing to the oldest so readers see one.
        comment = min(found, key=lambda c: c.id)
        comment.edit(build(comment.body or ""))
        return "updated", comment.html_url
    body = build("")
    created = issue.create_comment(body)
    # Two steps may have looked at the same moment and both found nothing: the oldest comment wins, later ones go.
    others = [c for c in issue.get_comments() if (c.body or "").startswith(marker) and c.id < created.id]
    if others:
        created.delete()
        oldest = min(others, key=lambda c: c.id)
        oldest.edit(build(oldest.body or ""))
        return "updated", oldest.html_url
    return "created", created.html_url
