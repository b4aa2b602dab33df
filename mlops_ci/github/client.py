"""The PyGithub client, opened lazily against GITHUB_API_URL, and which of its failures are only worth a warning."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from github.Repository import Repository

# Every call is bounded: a slow GitHub must not hold the deployment step for long.
TIMEOUT_SECONDS = 15
RETRIES = 2


def open_repository(api_url: str, token: str, full_name: str) -> Repository:
    """The repository, without a request: objects are fetched only when a call needs them."""
    import logging

    from github import Auth, Github, GithubRetry

    # PyGithub logs refused requests itself; we report them once, as a warning, through the runner.
    logging.getLogger("github").addHandler(logging.NullHandler())
    client = Github(
        auth=Auth.Token(token), base_url=api_url, timeout=TIMEOUT_SECONDS, per_page=100, lazy=True,
        retry=GithubRetry(total=RETRIES, backoff_factor=0.5, secondary_rate_wait=5, max_rate_limit_wait=10),
        # A step makes at most four writes, far from the secondary rate limits this spacing protects against.
        seconds_between_requests=None, seconds_between_writes=None,
    )
    return client.get_repo(full_name)


def describe_failure(exc: BaseException) -> str | None:
    """One sentence for a GitHub failure that must not fail the step; None for anything else (our own bug)."""
    import requests
    from github import GithubException

    if isinstance(exc, GithubException):
        message = exc.data.get("message") if isinstance(exc.data, dict) else None
        text = f"GitHub answered {exc.status}" + (f": {message}" if message else "")
        if exc.status == 403 and message and "not accessible by integration" in message:
            text += " (the token lacks a permission)"
        elif exc.status == 401:
            text += " (the token is not valid)"
        return text
    if isinstance(exc, requests.exceptions.RetryError):
        status = re.search(r"too many (\d+) error responses", str(exc))
        return f"GitHub answered {status.group(1) if status else 'errors'} {RETRIES + 1} times"
    if isinstance(exc, requests.RequestException | OSError):
        return f"GitHub could not be reached ({type(exc).__name__})"
    return None
