"""A loopback fake of the GitHub REST API (repository, issue comments, deployments and statuses) for real PyGithub."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DOCS = "https://docs.github.com/rest"
NOT_ACCESSIBLE = "Resource not accessible by integration"
# Scopes a token may hold; a request needing one the token lacks gets GitHub's 403 for integrations.
SCOPES = ("contents", "pull-requests", "deployments")
STATUS_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    body: Any
    token: str


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    message: str
    remaining: int


@dataclass
class State:
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class FakeGithub:
    """One repository's worth of GitHub, on 127.0.0.1, recording every request it answers."""

    def __init__(self, repository: str = "octo-org/wine-quality", *, page_size: int = 100) -> None:
        self.repository = repository
        self.owner, self.name = repository.split("/")
        self.page_size = page_size  # GitHub caps per_page at 100; tests lower it to exercise pagination
        self.tokens: dict[str, frozenset[str]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.state = State()
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()  # re-entrant: a test may wrap `route` and read the record inside it
        self._faults: list[Fault] = []
        self._ids = iter(range(1001, 10**9))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGithub:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-github",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- scripting --------------------------------------------------------------------------------------------
    def add_token(self, token: str, scopes: tuple[str, ...] = SCOPES) -> str:
        self.tokens[token] = frozenset(scopes)
        return token

    def add_pull(self, number: int, head_sha: str) -> None:
        self.pulls[number] = {"number": number, "head": {"sha": head_sha}}

    def fail(self, method: str, path_regex: str, status: int, message: str = "Server Error", times: int = 1) -> None:
        with self.lock:
            self._faults.append(Fault(method.upper(), re.compile(path_regex), status, message, times))

    def seed_comment(self, number: int, body: str, login: str = "someone") -> dict[str, Any]:
        with self.lock:
            return self._new_comment(number, body, login)

    # -- reading the record ------------------------------------------------------------------------------------
    def comments(self, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.state.comments.values() if c["issue_number"] == number]

    def deployments(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.state.deployments.values())

    def statuses(self, deployment_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.state.statuses.get(deployment_id, []))

    def calls(self, method: str | None = None, path_regex: str = "") -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method)
                    and re.search(path_regex, r.path)]

    # -- routes -------------------------------------------------------------------------------------------------
    def _api(self, path: str) -> str:
        return f"{self.url}{path}"

    def _repo_json(self) -> dict[str, Any]:
        return {"id": 42, "name": self.name, "full_name": self.repository, "private": False,
                "owner": {"login": self.owner, "id": 7, "type": "Organization"},
                "url": self._api(f"/repos/{self.repository}"),
                "html_url": f"https://github.example/{self.repository}", "default_branch": "main"}

    def _new_comment(self, number: int, body: str, login: str) -> dict[str, Any]:
        comment_id = next(self._ids)
        now = _now()
        comment = {"id": comment_id, "issue_number": number, "body": body, "user": {"login": login, "type": "Bot"},
                   "url": self._api(f"/repos/{self.repository}/issues/comments/{comment_id}"),
                   "html_url": f"https://github.example/{self.repository}/pull/{number}#issuecomment-{comment_id}",
                   "issue_url": self._api(f"/repos/{self.repository}/issues/{number}"),
                   "created_at": now, "updated_at": now}
        self.state.comments[comment_id] = comment
        return comment

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any,
              token: str) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: (status, JSON body, extra headers). Called with the lock held."""
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in ("*", method) and fault.pattern.search(path):
                fault.remaining -= 1
                return fault.status, {"message": fault.message, "documentation_url": DOCS}, {}
        scopes = self.tokens.get(token)
        if scopes is None:
            return 401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}, {}
        prefix = f"/repos/{self.repository}"
        if not path.startswith(prefix):
            return _not_found()
        rest = path[len(prefix):]
        for pattern, verb, needs, handler in self._table():
            match = re.fullmatch(pattern, rest)
            if match and verb == method:
                if needs and needs not in scopes:
                    return 403, {"message": NOT_ACCESSIBLE, "documentation_url": DOCS, "status": "403"}, {}
                return handler(query, body, **{k: int(v) for k, v in match.groupdict().items()})
        return _not_found()

    def _table(self) -> list[tuple[str, str, str, Callable[..., tuple[int, Any, dict[str, str]]]]]:
        return [
            (r"", "GET", "contents", lambda q, b: (200, self._repo_json(), {})),
            (r"/issues/(?P<number>\d+)", "GET", "pull-requests", self._get_issue),
            (r"/issues/(?P<number>\d+)/comments", "GET", "pull-requests", self._list_comments),
            (r"/issues/(?P<number>\d+)/comments", "POST", "pull-requests", self._create_comment),
            (r"/issues/comments/(?P<comment_id>\d+)", "PATCH", "pull-requests", self._update_comment),
            (r"/issues/comments/(?P<comment_id>\d+)", "DELETE", "pull-requests", self._delete_comment),
            (r"/deployments", "POST", "deployments", self._create_deployment),
            (r"/deployments", "GET", "deployments", self._list_deployments),
            (r"/deployments/(?P<deployment_id>\d+)", "GET", "deployments", self._get_deployment),
            (r"/deployments/(?P<deployment_id>\d+)/statuses", "POST", "deployments", self._create_status),
            (r"/deployments/(?P<deployment_id>\d+)/statuses", "GET", "deployments", self._list_statuses),
        ]

    def _get_issue(self, query: Any, body: Any, number: int) -> tuple[int, Any, dict[str, str]]:
        if number not in self.pulls:
            return _not_found()
        return 200, {"id": number * 10, "number": number, "title": f"PR {number}", "state": "open",
                     "url": self._api(f"/repos/{self.repository}/issues/{number}"),
                     "pull_request": {"url": self._api(f"/repos/{self.repository}/pulls/{number}")}}, {}

    def _list_comments(self, query: dict[str, list[str]], body: Any, number: int) -> tuple[int, Any, dict[str, str]]:
        if number not in self.pulls:
            return _not_found()
        items = sorted((c for c in self.state.comments.values() if c["issue_number"] == number),
                       key=lambda c: c["id"])
        return self._page(items, query, f"/repos/{self.repository}/issues/{number}/comments")

    def _page(self, items: list[dict[str, Any]], query: dict[str, list[str]],
              path: str) -> tuple[int, Any, dict[str, str]]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100, self.page_size)
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        if page * per_page < len(items):
            links.append(f'<{self._api(path)}?per_page={per_page}&page={page + 1}>; rel="next"')
            last = (len(items) + per_page - 1) // per_page
            links.append(f'<{self._api(path)}?per_page={per_page}&page={last}>; rel="last"')
        return 200, [_public(c) for c in chunk], ({"Link": ", ".join(links)} if links else {})

    def _create_comment(self, query: Any, body: Any, number: int) -> tuple[int, Any, dict[str, str]]:
        if number not in self.pulls:
            return _not_found()
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return _invalid("body is required")
        if len(body["body"]) > 65536:
            return _invalid("body is too long (maximum is 65536 characters)")
        return 201, _public(self._new_comment(number, body["body"], "github-actions[bot]")), {}

    def _update_comment(self, query: Any, body: Any, comment_id: int) -> tuple[int, Any, dict[str, str]]:
        comment = self.state.comments.get(comment_id)
        if comment is None:
            return _not_found()
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return _invalid("body is required")
        comment["body"] = body["body"]
        comment["updated_at"] = _now()
        return 200, _public(comment), {}

    def _delete_comment(self, query: Any, body: Any, comment_id: int) -> tuple[int, Any, dict[str, str]]:
        if self.state.comments.pop(comment_id, None) is None:
            return _not_found()
        return 204, None, {}

    def _deployment_json(self, deployment: dict[str, Any]) -> dict[str, Any]:
        return dict(deployment)

    def _create_deployment(self, query: Any, body: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            return _invalid("ref is required")
        if body.get("required_contexts") != []:
            # The real API waits for (or fails on) commit statuses unless told not to; be as strict.
            return 409, {"message": "Conflict: Commit status checks failed for " + body["ref"] + ".",
                         "documentation_url": DOCS}, {}
        deployment_id = next(self._ids)
        url = self._api(f"/repos/{self.repository}/deployments/{deployment_id}")
        deployment = {
            "id": deployment_id, "url": url, "sha": body["ref"], "ref": body["ref"],
            "task": body.get("task", "deploy"), "payload": body.get("payload", {}),
            "environment": body.get("environment", "production"), "description": body.get("description"),
            "creator": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
            "created_at": _now(), "updated_at": _now(), "statuses_url": url + "/statuses",
            "repository_url": self._api(f"/repos/{self.repository}"),
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment",
                                                    body.get("environment", "production") == "production")),
            "auto_merge": body.get("auto_merge", True),
        }
        self.state.deployments[deployment_id] = deployment
        self.state.statuses[deployment_id] = []
        return 201, deployment, {}

    def _list_deployments(self, query: dict[str, list[str]], body: Any) -> tuple[int, Any, dict[str, str]]:
        items = sorted(self.state.deployments.values(), key=lambda d: -d["id"])  # newest first, as GitHub lists
        for key in ("environment", "sha", "ref", "task"):
            if key in query:
                items = [d for d in items if d[key] == query[key][0]]
        return self._page(items, query, f"/repos/{self.repository}/deployments")

    def _get_deployment(self, query: Any, body: Any, deployment_id: int) -> tuple[int, Any, dict[str, str]]:
        deployment = self.state.deployments.get(deployment_id)
        return (200, deployment, {}) if deployment is not None else _not_found()

    def _create_status(self, query: Any, body: Any, deployment_id: int) -> tuple[int, Any, dict[str, str]]:
        deployment = self.state.deployments.get(deployment_id)
        if deployment is None:
            return _not_found()
        if not isinstance(body, dict) or body.get("state") not in STATUS_STATES:
            return _invalid("state is not included in the list")
        environment_url = body.get("environment_url", "")
        if environment_url and not re.match(r"^https?://", environment_url):
            return _invalid("environment_url must use http(s) scheme")
        status_id = next(self._ids)
        status = {
            "id": status_id, "state": body["state"], "description": body.get("description", ""),
            "environment": body.get("environment", deployment["environment"]),
            "environment_url": environment_url, "target_url": body.get("target_url", ""),
            "log_url": body.get("log_url", body.get("target_url", "")),
            "created_at": _now(), "updated_at": _now(),
            "url": f"{deployment['url']}/statuses/{status_id}", "deployment_url": deployment["url"],
            "repository_url": deployment["repository_url"],
            "creator": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
        }
        statuses = self.state.statuses[deployment_id]
        if body["state"] == "success" and body.get("auto_inactive", True):
            # GitHub marks earlier successful deployments of the environment inactive.
            for other_id, other in self.state.deployments.items():
                if other_id != deployment_id and other["environment"] == deployment["environment"]:
                    earlier = self.state.statuses[other_id]
                    if earlier and earlier[-1]["state"] == "success":
                        earlier.append({**earlier[-1], "id": next(self._ids), "state": "inactive"})
        statuses.append(status)
        return 201, status, {}

    def _list_statuses(self, query: dict[str, list[str]], body: Any,
                       deployment_id: int) -> tuple[int, Any, dict[str, str]]:
        if deployment_id not in self.state.deployments:
            return _not_found()
        items = list(reversed(self.state.statuses[deployment_id]))  # newest first, as GitHub lists
        return self._page(items, query, f"/repos/{self.repository}/deployments/{deployment_id}/statuses")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if k != "issue_number"}


def _not_found() -> tuple[int, Any, dict[str, str]]:
    return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}


def _invalid(message: str) -> tuple[int, Any, dict[str, str]]:
    return 422, {"message": "Validation Failed", "errors": [{"message": message}], "documentation_url": DOCS,
                 "status": "422"}, {}


def _handler(fake: FakeGithub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            auth = self.headers.get("Authorization", "")
            token = auth.split(" ", 1)[1].strip() if " " in auth else ""
            query = parse_qs(parts.query)
            with fake.lock:
                status, payload, headers = fake.route(self.command, parts.path, query, body, token)
                fake.requests.append(Recorded(self.command, parts.path, query, status, body, token))
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


def running(repository: str = "octo-org/wine-quality", *, page_size: int = 100) -> Iterator[FakeGithub]:
    """Generator for a fixture: a started fake, stopped when the test ends."""
    fake = FakeGithub(repository, page_size=page_size).start()
    try:
        yield fake
    finally:
        fake.stop()
