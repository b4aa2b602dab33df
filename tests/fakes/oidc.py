"""A loopback fake of GitHub's OIDC token service: the URL and bearer token a job gets with `id-token: write`."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ISSUER = "https://token.actions.githubusercontent.com"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@dataclass
class FakeOidc:
    """Issues unsigned JWTs whose `aud` is the requested audience and whose `sub` is the configured subject."""

    subject: str = "repo:octo-org/wine-quality:pull_request"
    request_token: str = field(default_factory=lambda: "oidc-request-" + secrets.token_hex(12))
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses to answer before succeeding
    issued_at: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-oidc",
                                        daemon=True)

    @property
    def request_url(self) -> str:
        host, port = self._server.server_address[:2]
        # The runner's URL already has a query string; the client appends `&audience=`.
        return f"http://{host}:{port}/_apis/distributedtask/hubs/Actions/plans/p1/jobs/j1/idtoken?api-version=2.0"

    @property
    def env(self) -> dict[str, str]:
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token}

    def token_for(self, audience: str) -> str:
        """The same token for the same audience, so a fake token endpoint can expect exactly one of them."""
        claims = {"iss": ISSUER, "sub": self.subject, "aud": audience, "iat": self.issued_at,
                  "nbf": self.issued_at, "exp": self.issued_at + 300, "repository": self.subject.split(":")[1],
                  "jti": hashlib.sha256(f"{self.request_token}{audience}".encode()).hexdigest()[:16]}
        signature = base64.urlsafe_b64encode(hashlib.sha256(json.dumps(claims).encode()).digest()).rstrip(b"=")
        return f"{_b64({'typ': 'JWT', 'alg': 'RS256'})}.{_b64(claims)}.{signature.decode()}"

    def start(self) -> FakeOidc:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(fake: FakeOidc) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the base class's naming
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            auth = self.headers.get("Authorization", "")
            with fake.lock:
                fake.requests.append({"path": parts.path, "query": query, "authorization": auth})
                failure = fake.failures.pop(0) if fake.failures else None
            if failure is not None:
                self._reply(failure, {"message": "unavailable"})
            elif auth != f"Bearer {fake.request_token}":
                self._reply(401, {"message": "Unauthorized"})
            elif query.get("api-version") != ["2.0"] or not parts.path.endswith("/idtoken"):
                self._reply(404, {"message": "Not Found"})
            else:
                audience = query.get("audience", [""])[0]
                token = fake.token_for(audience) if audience else fake.token_for("https://github.com/octo-org")
                with fake.lock:
                    fake.issued.append(token)
                self._reply(200, {"count": 1, "value": token})

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


def running(subject: str = "repo:octo-org/wine-quality:pull_request") -> Iterator[FakeOidc]:
    """Generator for a fixture: a started fake, stopped when the test ends."""
    fake = FakeOidc(subject=subject).start()
    try:
        yield fake
    finally:
        fake.stop()
