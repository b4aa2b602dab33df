"""Calling a scoring URI as a client does (requests, JSON, Bearer key or token): the smoke test and its latencies."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlops_ci.errors import OperationTimeout, ServiceError

RESPONSE_LIMIT = 2000
NO_EXPECTATION = object()


@dataclass(frozen=True)
class SmokeResult:
    status_code: int
    response: str  # the last response body, truncated
    latencies_ms: tuple[float, ...]

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies_ms, 95)


def percentile(values: tuple[float, ...] | list[float], pct: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(pct/100 · n)); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def truncate(text: str, limit: int = RESPONSE_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters in all)"


def smoke_test(uri: str, body: str, headers: dict[str, str], *, count: int = 1, timeout: float = 60.0,
               expected: Any = NO_EXPECTATION) -> SmokeResult:
    """POST `body` `count` times; raise ServiceError on the first non-200 answer or an unexpected response."""
    import requests

    deadline = time.monotonic() + timeout
    session = requests.Session()
    host = urlsplit(uri).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1"):
        session.trust_env = False  # a proxy from the environment must not intercept a loopback endpoint
    send = {"Content-Type": "application/json", **headers}
    latencies: list[float] = []
    status, text = 0, ""
    with session:
        for _ in range(count):
            left = deadline - time.monotonic()
            if left <= 0:
                raise OperationTimeout(f"The smoke test of {uri} ran out of time after {len(latencies)} of {count} "
                                       "requests.", fix="Lower 'requests-count' or raise 'timeout-minutes'.")
            started = time.perf_counter()
            try:
                resp = session.post(uri, data=body.encode("utf-8"), headers=send, timeout=min(left, 300.0))
            except requests.Timeout as exc:
                raise OperationTimeout(f"The scoring endpoint {uri} did not answer in time.",
                                       fix="Check that run() returns promptly, or raise 'timeout-minutes'.") from exc
            except requests.RequestException as exc:
                raise ServiceError(f"The scoring endpoint {uri} cannot be reached: {type(exc).__name__}.",
                                   why=str(exc)[:300], fix="Check the scoring URI and that the service is running.") \
                    from exc
            latencies.append((time.perf_counter() - started) * 1000)
            status, text = resp.status_code, resp.text
            if status != 200:
                raise ServiceError(f"The scoring endpoint answered HTTP {status} to the sample request.",
                                   why=_why(status, resp.headers), fix=_fix(status),
                                   logs=f"HTTP {status}\n{truncate(text)}",
                                   outputs={"status-code": str(status), "response": truncate(text)})
    if expected is not NO_EXPECTATION:
        try:
            got = json.loads(text)
        except ValueError:
            got = text
        if got != expected:
            raise ServiceError("The scoring endpoint's response differs from the expected response.",
                               why="expected-response is compared as JSON (key order and whitespace do not matter).",
                               fix="Fix score.py, or update the expected-response file if the change is intended.",
                               logs=f"expected:\n{truncate(json.dumps(expected, indent=2))}\n\ngot:\n{truncate(text)}",
                               outputs={"status-code": str(status), "response": truncate(text)})
    return SmokeResult(status_code=status, response=truncate(text), latencies_ms=tuple(latencies))


def _why(status: int, headers: Any) -> str:
    if status == 401:
        return "The endpoint needs `Authorization: Bearer <key or token>` and refused the one sent (or none)."
    if status == 500 and headers.get("x-ms-run-function-failed"):
        return "run() raised an exception for this request (x-ms-run-function-failed: True)."
    if status in (400, 415):
        return "The inference server refused the request body (a schema-decorated run() needs a JSON object)."
    if status == 413:
        return "The request body is larger than the endpoint accepts."
    return "See the response body in the logs."


def _fix(status: int) -> str:
    if status == 401:
        return "Pass the service's key or token (scoring-key), or the service-name to look it up."
    if status == 500:
        return "Read the service's logs (get-logs) for the traceback of run()."
    return "Check the sample request against what score.py expects."
