"""HTTP facts read off an Azure SDK error (v1's azureml errors and v2's azure-core ones): status, Retry-After,
the reply's text, whether there was no answer at all, and the first meaningful line for a one-sentence message."""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any

_STATUS_IN_TEXT = (
    re.compile(r"Response Code: (\d{3})"),  # azureml._model_management's WebserviceException
    re.compile(r"\bstatus code:? '?(\d{3})\b", re.IGNORECASE),
    re.compile(r"\"statusCode\": (\d{3})"),
)
_RETRY_AFTER_IN_TEXT = re.compile(r"['\"]Retry-After['\"]: ['\"]([^'\"]+)['\"]", re.IGNORECASE)
_REASONS = {"Too Many Requests": 429, "Conflict": 409, "Internal Server Error": 500, "Bad Gateway": 502,
            "Service Unavailable": 503, "Gateway Timeout": 504}
_REASON_IN_TEXT = re.compile(r"invalid status code '(" + "|".join(_REASONS) + r")'")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        inner = getattr(current, "inner_exception", None)
        current = inner if isinstance(inner, BaseException) else (current.__cause__ or current.__context__)
    return seen


def _response(exc: BaseException) -> Any:
    response = getattr(exc, "response", None)
    return response if response is not None and hasattr(response, "status_code") else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK error, wherever the SDK put it (a response object or its message)."""
    for link in _chain(exc):
        response = _response(link)
        if response is not None and isinstance(response.status_code, int):
            return int(response.status_code)
        status = getattr(link, "status_code", None)
        if isinstance(status, int):
            return status
        text = str(link)
        for pattern in _STATUS_IN_TEXT:
            found = pattern.search(text)
            if found:
                return int(found.group(1))
        reason = _REASON_IN_TEXT.search(text)
        if reason:
            return _REASONS[reason.group(1)]
    return None


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the service asked us to wait (Retry-After: seconds or an HTTP date), or None."""
    value = None
    for link in _chain(exc):
        response = _response(link)
        headers = getattr(response, "headers", None) if response is not None else None
        if headers is not None:
            value = headers.get("Retry-After") or headers.get("retry-after")
        if value is None:
            found = _RETRY_AFTER_IN_TEXT.search(str(link))
            value = found.group(1) if found else None
        if value is not None:
            break
    if value is None:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def response_text(exc: BaseException) -> str:
    """The error's own text and, when it carries one, the body of the reply behind it."""
    parts = []
    for link in _chain(exc):
        parts.append(str(link))
        response = _response(link)
        if response is not None:
            parts.append(str(getattr(response, "text", "") or ""))
    return "\n".join(parts)


def is_connection_problem(exc: BaseException) -> bool:
    """A reset, a refused or dropped connection, or a read timeout: no answer at all."""
    import http.client

    import requests
    import urllib3.exceptions

    kinds = (ConnectionError, http.client.HTTPException, requests.ConnectionError, requests.Timeout,
             urllib3.exceptions.ProtocolError, urllib3.exceptions.NewConnectionError)
    return any(isinstance(link, kinds) for link in _chain(exc))


def error_text(exc: BaseException, limit: int = 400) -> str:
    """The first meaningful line of an SDK error, for a one-sentence message."""
    for link in _chain(exc):
        text = getattr(link, "message", None) or str(link)
        for line in str(text).splitlines():
            line = line.strip()
            if line and not line.startswith(("Traceback", "InnerException", "ErrorResponse", "{", "}")):
                line = re.sub(r"^(Message|AuthenticationError|UserError):\s*", "", line)
                if line:
                    return line[:limit]
    return type(exc).__name__
