"""Key and token auth for local endpoints: the keys file, short-lived signed tokens, and the WSGI gate in front of score."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_LIFETIME_S = 3600  # Azure's AKS tokens last about an hour and should be refreshed halfway
MAX_BODY_BYTES = 100 * 1024 * 1024
MALFORMED = "Authorization header is malformed. Header should be in the form: Authorization: Bearer <token>"
PROTECTED_PATHS = frozenset({"/score"})


@dataclass(frozen=True)
class ServiceSecrets:
    """What one service authenticates with; stored in a 0600 file in the service folder, never in the database."""

    mode: str  # key, token or none
    primary: str = field(default="", repr=False)
    secondary: str = field(default="", repr=False)
    signing: str = field(default="", repr=False)  # token signing secret

    @classmethod
    def create(cls, mode: str, primary: str = "", secondary: str = "") -> ServiceSecrets:
        if mode != "key":
            primary = secondary = ""
        else:
            primary = primary or secrets.token_urlsafe(24)
            secondary = secondary or secrets.token_urlsafe(24)
        return cls(mode=mode, primary=primary, secondary=secondary,
                   signing=secrets.token_urlsafe(32) if mode == "token" else "")

    def save(self, path: Path) -> None:
        temp = path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"mode": self.mode, "primary": self.primary, "secondary": self.secondary,
                       "signing": self.signing}, handle)
        os.replace(temp, path)

    @classmethod
    def load(cls, path: Path) -> ServiceSecrets:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(mode=data["mode"], primary=data["primary"], secondary=data["secondary"], signing=data["signing"])


def _signature(signing: str, service: str, expiry: int) -> str:
    digest = hmac.new(signing.encode(), f"{service}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_token(secrets_: ServiceSecrets, service: str, *, now: float | None = None,
               lifetime: int = TOKEN_LIFETIME_S) -> tuple[str, float]:
    """A bearer token for a token-auth service, and the time (epoch s) after which it should be refreshed."""
    now = time.time() if now is None else now
    expiry = int(now) + lifetime
    return f"v1.{expiry}.{_signature(secrets_.signing, service, expiry)}", now + lifetime / 2


class AuthGate:
    """WSGI middleware: Bearer key (primary or secondary) or token on /score, then the body size limit."""

    def __init__(self, app: Callable[..., Iterable[bytes]], secrets_: ServiceSecrets, service: str,
                 max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.mode = secrets_.mode
        self.keys = [k.encode() for k in (secrets_.primary, secrets_.secondary) if k]
        self.signing = secrets_.signing
        self.service = service
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.mode != "none" and environ.get("PATH_INFO") in PROTECTED_PATHS \
                and environ.get("REQUEST_METHOD") != "OPTIONS":
            problem = self.check(environ.get("HTTP_AUTHORIZATION"))
            if problem:
                return _reply(start_response, "401 Unauthorized", problem,
                              [("WWW-Authenticate", 'Bearer realm="mlops-ci"')])
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            if not length.isdigit():
                return _reply(start_response, "400 Bad Request", "Content-Length is not a number.")
            if int(length) > self.max_body:
                return _reply(start_response, "413 Request Entity Too Large",
                              f"The request body is larger than the limit of {self.max_body} bytes.")
        elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            body = environ["wsgi.input"].read(self.max_body + 1)
            if len(body) > self.max_body:
                return _reply(start_response, "413 Request Entity Too Large",
                              f"The request body is larger than the limit of {self.max_body} bytes.")
            import io

            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def check(self, header: str | None) -> str:
        """'' when the header carries a valid credential, otherwise the 401 message."""
        if not header:
            return "Authorization header is missing. Send Authorization: Bearer <key>."
        scheme, _, credential = header.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential or " " in credential:
            return MALFORMED
        if self.mode == "token":
            return self._check_token(credential)
        given = credential.encode()
        # Compare with every key, always: the time taken says nothing about which one (nearly) matched.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(given, key)
        return "" if matched else "The key in the Authorization header is not valid for this service."

    def _check_token(self, token: str) -> str:
        parts = token.split(".")
        invalid = "The token in the Authorization header is not valid for this service."
        if len(parts) != 3 or parts[0] != "v1" or not parts[1].isdigit():
            return invalid
        expiry = int(parts[1])
        if not hmac.compare_digest(parts[2].encode(), _signature(self.signing, self.service, expiry).encode()):
            return invalid
        if expiry < time.time():
            return "The token has expired. Get a new one (mlops-ci services token NAME, or Webservice.get_token())."
        return ""


def _reply(start_response: Callable[..., Any], status: str, message: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = json.dumps({"message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            *(headers or [])])
    return [body]
