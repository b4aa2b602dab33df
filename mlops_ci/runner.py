"""The GitHub runner protocol: outputs, masks, groups, annotations and the job summary, or plain CLI output."""

from __future__ import annotations

import contextlib
import secrets as _secrets
import sys
from collections.abc import Iterator, Mapping
from typing import TextIO

MASK = "***"


def escape_data(value: str) -> str:
    """Escape a workflow command's message as GitHub's toolkit does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command's property value (title=, file=) as GitHub's toolkit does."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_output(name: str, value: str, delimiter: str | None = None) -> str:
    """One entry of the $GITHUB_OUTPUT file: `name=value`, or a heredoc with a random delimiter for multi-line values."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = delimiter or f"ghadelimiter_{_secrets.token_hex(16)}"
    if delimiter in value or delimiter in name:
        raise ValueError("the output delimiter occurs in the value")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


class Runner:
    """Everything mlops-ci shows a person goes through here, so that every secret is masked in one place."""

    def __init__(self, environ: Mapping[str, str], stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.in_actions = environ.get("GITHUB_ACTIONS") == "true"
        self.output_path = environ.get("GITHUB_OUTPUT") or None
        self.summary_path = environ.get("GITHUB_STEP_SUMMARY") or None
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._secrets: list[str] = []

    # -- secrets -------------------------------------------------------------------------------------------
    def mask(self, value: str | None) -> None:
        """Register a secret: the runner hides it in logs from now on, and every line we print is redacted."""
        if not value:
            return
        candidates = {value, *(line for line in value.splitlines() if len(line.strip()) >= 4)}
        for secret in sorted(candidates, key=len, reverse=True):
            if secret in self._secrets:
                continue
            self._secrets.append(secret)
            if self.in_actions:
                self._emit(f"::add-mask::{escape_data(secret)}")
        self._secrets.sort(key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    # -- plain lines and annotations ----------------------------------------------------------------------
    def _emit(self, line: str, *, to_stderr: bool = False) -> None:
        stream = self.stderr if to_stderr and not self.in_actions else self.stdout
        stream.write(line + "\n")
        stream.flush()

    def info(self, message: str) -> None:
        """Progress for a person: the log in Actions, stderr on a terminal (stdout stays machine-readable)."""
        self._emit(self.redact(message), to_stderr=True)

    def annotate(self, level: str, message: str, title: str = "") -> None:
        message = self.redact(message)
        if self.in_actions:
            props = f" title={escape_property(self.redact(title))}" if title else ""
            self._emit(f"::{level}{props}::{escape_data(message)}")
        else:
            prefix = f"{title}: " if title else ""
            self._emit(f"mlops-ci: {level}: {prefix}{message}", to_stderr=True)

    def notice(self, message: str, title: str = "") -> None:
        self.annotate("notice", message, title)

    def warning(self, message: str, title: str = "") -> None:
        self.annotate("warning", message, title)

    def error(self, message: str, title: str = "") -> None:
        self.annotate("error", message, title)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.in_actions:
            self._emit(f"::group::{escape_data(self.redact(title))}")
        else:
            self._emit(f"--- {self.redact(title)}", to_stderr=True)
        try:
            yield
        finally:
            if self.in_actions:
                self._emit("::endgroup::")

    def log_group(self, title: str, text: str) -> None:
        with self.group(title):
            for line in text.splitlines():
                # A log line that looks like a workflow command must not be run as one.
                line = self.redact(line)
                self._emit(("  " + line) if line.startswith("::") else line, to_stderr=True)

    # -- outputs and summary ------------------------------------------------------------------------------
    def set_output(self, name: str, value: str) -> None:
        if self.output_path:
            with open(self.output_path, "a", encoding="utf-8") as handle:
                handle.write(format_output(name, value))

    def append_summary(self, markdown: str) -> None:
        if self.summary_path:
            with open(self.summary_path, "a", encoding="utf-8") as handle:
                handle.write(self.redact(markdown).rstrip("\n") + "\n\n")

    def print_outputs(self, outputs: Mapping[str, str], secret_names: frozenset[str], as_json: bool) -> None:
        shown = {k: (MASK if k in secret_names and v else self.redact(v)) for k, v in outputs.items()}
        if as_json:
            import json

            self.stdout.write(json.dumps(shown, indent=2, sort_keys=False) + "\n")
        else:
            for key, value in shown.items():
                value = value.replace("\n", "\\n")
                self.stdout.write(f"{key}={value}\n")
        self.stdout.flush()


def parse_output_file(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file the way the runner does: `name=value` lines and `name<<DELIM` heredocs."""
    outputs: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, _, delimiter = line.partition("<<")
            value: list[str] = []
            while index < len(lines) and lines[index] != delimiter:
                value.append(lines[index])
                index += 1
            if index >= len(lines):
                raise ValueError(f"output '{name}' has no closing delimiter")
            index += 1
            outputs[name] = "\n".join(value)
        else:
            name, sep, value_text = line.partition("=")
            if not sep:
                raise ValueError(f"malformed output line: {line!r}")
            outputs[name] = value_text
    return outputs
