"""The one exception hierarchy of mlops-ci and the exit status of each class."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    SERVICE_FAILURE = 1
    BAD_INPUT = 2
    TIMEOUT = 3
    BUG = 70
    INTERRUPTED = 130


class MlopsCiError(Exception):
    """A failure that mlops-ci explains to its user.

    `message` is one sentence (what went wrong, naming the input or resource); `fix` says what to do;
    `why` adds context for the job summary; `logs` is a long text shown in a log group and the summary.
    """

    exit_status = ExitStatus.SERVICE_FAILURE
    title = "failed"

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        why: str = "",
        logs: str = "",
        outputs: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.why = why
        self.logs = logs
        # Outputs still worth writing when the step fails (a run id after a timeout, rolled-back=true, …).
        self.outputs = dict(outputs or {})

    def one_line(self) -> str:
        text = self.message.rstrip()
        if self.fix:
            text = f"{text.rstrip('.')}. {self.fix.rstrip()}"
        return " ".join(text.split())


class InputError(MlopsCiError):
    """Bad input: an input value, a file it names, or a combination of inputs. Exit 2."""

    exit_status = ExitStatus.BAD_INPUT
    title = "bad input"

    def __init__(self, name: str, message: str, *, fix: str = "", why: str = "") -> None:
        self.input_name = name
        super().__init__(message, fix=fix, why=why)


class ResourceNotFound(InputError):
    """A named resource (a model, a web service…) does not exist where the inputs say. Exit 2."""


class ServiceError(MlopsCiError):
    """A backend or service failed (Azure, the local workspace, a scoring endpoint). Exit 1."""

    exit_status = ExitStatus.SERVICE_FAILURE
    title = "service failure"


class OperationTimeout(MlopsCiError):
    """A bounded wait ran out. Exit 3; what is still running is named in the message and the outputs."""

    exit_status = ExitStatus.TIMEOUT
    title = "timed out"


class Interrupted(MlopsCiError):
    """The step was cancelled (SIGINT or SIGTERM). Exit 130."""

    exit_status = ExitStatus.INTERRUPTED
    title = "interrupted"
