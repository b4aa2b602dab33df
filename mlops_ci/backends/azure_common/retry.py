"""Our retries around SDK calls: bounded exponential back-off honouring Retry-After, waits on 409 "in progress",
every wait bounded by a deadline, and a progress line for each wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from mlops_ci.backends.azure_common import http_errors as sdk
from mlops_ci.errors import InputError, OperationTimeout, ServiceError
from mlops_ci.runner import Runner

T = TypeVar("T")
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
IN_PROGRESS = ("in progress", "inprogress", "another operation")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The environment variables let tests (and impatient people) shorten every wait."""

    base_seconds: float = 2.0  # first back-off; doubles per attempt
    cap_seconds: float = 60.0  # longest single wait, Retry-After included
    attempts: int = 6  # tries per call, the first included
    budget_seconds: float = 600.0  # what one call may spend retrying when its caller gives no deadline
    poll_seconds: float = 5.0  # interval between status reads of a long operation

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RetryPolicy:
        def number(name: str, default: float, minimum: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not value >= minimum:
                raise InputError(name, f"Environment variable {name} is '{raw[:20]}', which is not a number of at "
                                 f"least {minimum:g}.", fix=f"Unset it to use {default:g}, or give a number.")
            return value

        return cls(base_seconds=number("MLOPS_CI_RETRY_BASE_SECONDS", cls.base_seconds, 0.0),
                   attempts=int(number("MLOPS_CI_RETRY_ATTEMPTS", cls.attempts, 1)),
                   poll_seconds=number("MLOPS_CI_POLL_SECONDS", cls.poll_seconds, 0.01))


def classify(exc: BaseException) -> str:
    """'transient', 'in-progress' (409 while another operation runs) or '' (not ours to retry)."""
    status = sdk.http_status(exc)
    if status in TRANSIENT_STATUSES:
        return "transient"
    if status == 409 and any(word in sdk.response_text(exc).lower() for word in IN_PROGRESS):
        return "in-progress"
    if status is None and sdk.is_connection_problem(exc):
        return "transient"
    return ""


def describe(exc: BaseException) -> str:
    status = sdk.http_status(exc)
    if status == 409:
        return "409 another operation is in progress"
    if status is not None:
        return f"HTTP {status}"
    return f"connection problem ({type(exc).__name__})"


class Retrier:
    """Runs one SDK call until it succeeds, fails for good, runs out of attempts, or reaches its deadline."""

    def __init__(self, runner: Runner, policy: RetryPolicy, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, step_deadline: float | None = None) -> None:
        self.runner = runner
        self.policy = policy
        # The step's timeout-minutes bounds every retry, also those of calls that pass no deadline of their own.
        self.step_deadline = step_deadline
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # total seconds spent waiting, for the benchmark and the logs

    def call(self, what: str, fn: Callable[[], T], *, deadline: float | None = None) -> T:
        started = self.clock()
        limit = deadline if deadline is not None else started + self.policy.budget_seconds
        if self.step_deadline is not None:
            limit = min(limit, self.step_deadline)
        history: list[str] = []
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below; anything not transient propagates as is
                kind = classify(exc)
                if not kind:
                    raise
                reason = describe(exc)
                history.append(f"attempt {attempt}: {reason}: {sdk.error_text(exc, 200)}")
                if attempt >= self.policy.attempts:
                    raise ServiceError(f"{what} failed {attempt} times in a row ({reason}).",
                                       fix="Azure ML is throttling or unavailable: re-run the job later.",
                                       logs="\n".join(history)) from exc
                delay = self._delay(attempt, exc, kind)
                remaining = limit - self.clock()
                if delay > remaining:
                    raise OperationTimeout(f"{what} was still failing ({reason}) when its time ran out after "
                                           f"{self.clock() - started:.0f} s.",
                                           fix="Re-run the job later, or raise timeout-minutes.",
                                           logs="\n".join(history)) from exc
                self.runner.info(f"{what}: {reason}; retrying in {delay:.1f} s (attempt {attempt + 1} of "
                                 f"{self.policy.attempts}, {self.clock() - started:.1f} s elapsed).")
                self.sleep(delay)
                self.waited += delay

    def _delay(self, attempt: int, exc: BaseException, kind: str) -> float:
        backoff = self.policy.base_seconds * (2 ** (attempt - 1))
        asked = sdk.retry_after(exc) if kind == "transient" else None
        # The service's Retry-After wins when it asks for longer than our back-off; never wait past the cap.
        return min(self.policy.cap_seconds, max(backoff, asked or 0.0))
