"""The workflow run's event as the runner describes it: event name, payload file, pull request number and head commit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Events whose payload carries the pull request a comment belongs to.
PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target"})


@dataclass(frozen=True)
class GithubEvent:
    """What a step needs to know about the run: where it comments, which commit it deploys."""

    name: str = ""
    repository: str = ""
    sha: str = ""
    ref: str = ""
    workflow: str = ""
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str = ""
    pull_number: int | None = None
    pull_action: str = ""
    head_sha: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> GithubEvent:
        name = environ.get("GITHUB_EVENT_NAME", "")
        payload = _payload(environ.get("GITHUB_EVENT_PATH", ""))
        pull = payload.get("pull_request") if name in PULL_REQUEST_EVENTS else None
        number = head = action = None
        if isinstance(pull, dict):
            number = pull.get("number") if isinstance(pull.get("number"), int) else payload.get("number")
            head_info = pull.get("head")
            head = head_info.get("sha") if isinstance(head_info, dict) else None
            action = payload.get("action")
        return cls(
            name=name,
            repository=environ.get("GITHUB_REPOSITORY", ""),
            sha=environ.get("GITHUB_SHA", ""),
            ref=environ.get("GITHUB_REF", ""),
            workflow=environ.get("GITHUB_WORKFLOW", ""),
            server_url=(environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
            api_url=(environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            run_id=environ.get("GITHUB_RUN_ID", ""),
            pull_number=number if isinstance(number, int) and number > 0 else None,
            pull_action=action if isinstance(action, str) else "",
            head_sha=head if isinstance(head, str) else "",
        )

    @property
    def commit(self) -> str:
        """The commit people know: a pull request's head, not the merge commit GITHUB_SHA names on pull_request."""
        return self.head_sha or self.sha

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    def provenance_tags(self) -> dict[str, str]:
        """Tags that say where a registered asset came from; empty outside Actions."""
        tags = {
            "github.repository": self.repository,
            "github.sha": self.commit,
            "github.ref": self.ref,
            "github.run_url": self.run_url,
        }
        return {k: v for k, v in tags.items() if v}

    @property
    def commit_url(self) -> str:
        if not (self.repository and self.commit):
            return ""
        return f"{self.server_url}/{self.repository}/commit/{self.commit}"


def _payload(path: str) -> dict[str, object]:
    # A missing or unreadable payload only means there is no pull request to comment on.
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
