"""Reading inputs (INPUT_<NAME> variables or CLI flags) and converting them, each failure naming the input and the fix."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_ci.errors import InputError
from mlops_ci.spec import INPUTS_BY_NAME, SECRET_INPUTS

TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def env_name(name: str) -> str:
    """The variable GitHub's runner sets for an input: upper case, spaces to underscores, hyphens kept."""
    return "INPUT_" + name.replace(" ", "_").upper()


def inputs_from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """Every declared input found in the environment, hyphen spelling first, underscore spelling accepted."""
    values: dict[str, str] = {}
    for name in INPUTS_BY_NAME:
        for key in (env_name(name), env_name(name.replace("-", "_"))):
            if key in environ:
                values[name] = environ[key]
                break
    return values


class Inputs:
    """The raw input values of one step; empty means not given, and declared defaults apply."""

    def __init__(self, values: Mapping[str, str], base_dir: Path | None = None) -> None:
        self._values = {k: (v or "") for k, v in values.items()}
        self.base_dir = base_dir or Path.cwd()

    def raw(self, name: str) -> str:
        value = self._values.get(name, "").strip()
        if not value:
            spec = INPUTS_BY_NAME.get(name)
            value = spec.default if spec else ""
        return value

    def given(self, name: str) -> bool:
        return bool(self._values.get(name, "").strip())

    # -- conversions --------------------------------------------------------------------------------------
    def text(self, name: str, *, required: bool = False, fix: str = "") -> str:
        value = self.raw(name)
        if required and not value:
            raise InputError(name, f"Input '{name}' is required.", fix=fix or f"Set '{name}'.")
        return value

    def name(self, name: str, *, required: bool = True) -> str:
        """A resource name (model, dataset, service…): letters, digits, '.', '_' and '-'."""
        value = self.text(name, required=required)
        if value and not NAME_PATTERN.match(value):
            raise InputError(
                name,
                f"Input '{name}' is not a valid name.",
                fix="Use 1 to 255 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            )
        return value

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise InputError(name, f"Input '{name}' must be true or false, not '{_show(name, value)}'.",
                         fix="Write true or false.")

    def integer(self, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(name)
        try:
            number = int(value)
        except ValueError:
            raise InputError(name, f"Input '{name}' must be a whole number, not '{_show(name, value)}'.",
                             fix="Write a whole number such as 10.") from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise InputError(name, f"Input '{name}' is {number}, outside the range it allows.",
                             fix=f"Use a number {bounds}.")
        return number

    def number(self, name: str, *, minimum: float = 0.0) -> float:
        value = self.raw(name)
        try:
            number = float(value)
        except ValueError:
            raise InputError(name, f"Input '{name}' must be a number, not '{_show(name, value)}'.",
                             fix="Write a number such as 2.5.") from None
        if number != number or number < minimum or number == float("inf"):
            raise InputError(name, f"Input '{name}' is {value}, outside the range it allows.",
                             fix=f"Use a number of at least {minimum}.")
        return number

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.raw(name)
        if value not in choices:
            raise InputError(name, f"Input '{name}' is '{_show(name, value)}', which is not one of its choices.",
                             fix="Use one of: " + ", ".join(choices) + ".")
        return value

    def mapping(self, name: str) -> dict[str, str]:
        """A YAML or JSON mapping, or `key=value` lines; values become strings."""
        return parse_mapping(name, self.raw(name))

    def items(self, name: str) -> list[str]:
        """A list given comma- or newline-separated."""
        return [part.strip() for part in re.split(r"[,\n]", self.raw(name)) if part.strip()]

    def path(self, name: str, *, required: bool = True, kind: str = "any") -> Path | None:
        """A path relative to the working directory that must exist (`kind`: file, dir or any)."""
        value = self.text(name, required=required)
        if not value:
            return None
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = self.base_dir / path
        if not path.exists():
            raise InputError(name, f"Input '{name}' names '{value}', which does not exist.",
                             fix="Check the path: it is relative to the working directory "
                                 "(the repository root in a workflow).")
        if kind == "file" and not path.is_file():
            raise InputError(name, f"Input '{name}' names '{value}', which is not a file.", fix="Name a file.")
        if kind == "dir" and not path.is_dir():
            raise InputError(name, f"Input '{name}' names '{value}', which is not a folder.", fix="Name a folder.")
        return path

    def json_file(self, name: str, *, required: bool = True) -> Any:
        path = self.path(name, required=required, kind="file")
        if path is None:
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(name, f"Input '{name}' names '{path.name}', which is not valid JSON ({_json_where(exc)}).",
                             fix="Fix the file's JSON.") from None


def parse_mapping(name: str, value: str) -> dict[str, str]:
    if not value:
        return {}
    text = value.strip()
    if text.startswith("{") or re.match(r"^[^=\n]*:\s", text) or re.match(r"^[^=\n]*:$", text.splitlines()[0]):
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            raise InputError(name, f"Input '{name}' is not a valid YAML or JSON mapping{line}.",
                             fix="Write a mapping such as `{\"stage\": \"test\"}` or `key=value` lines.") from None
        if not isinstance(loaded, dict):
            raise InputError(name, f"Input '{name}' must be a mapping of keys to values.",
                             fix="Write a mapping such as `{\"stage\": \"test\"}` or `key=value` lines.")
        result: dict[str, str] = {}
        for key, item in loaded.items():
            if isinstance(item, dict | list):
                raise InputError(name, f"Input '{name}' has a nested value under key '{key}'.",
                                 fix="Give each key a plain value (text, number or boolean).")
            result[str(key)] = "" if item is None else _scalar(item)
        return _checked_keys(name, result)
    result = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, item = line.partition("=")
        if not sep or not key.strip():
            raise InputError(name, f"Input '{name}' line {number} is not a `key=value` pair.",
                             fix="Write one `key=value` per line, or a YAML/JSON mapping.")
        result[key.strip()] = item.strip()
    return _checked_keys(name, result)


def _scalar(item: object) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def _checked_keys(name: str, mapping: dict[str, str]) -> dict[str, str]:
    for key in mapping:
        if len(key) > 255 or not key.strip():
            raise InputError(name, f"Input '{name}' has an empty or over-long key.", fix="Use keys of 1 to 255 characters.")
    return mapping


def _show(name: str, value: str) -> str:
    """A value quoted back in an error: never a secret, never long."""
    if name in SECRET_INPUTS:
        return "***"
    return value if len(value) <= 60 else value[:57] + "..."


def _json_where(exc: Exception) -> str:
    line = getattr(exc, "lineno", None)
    col = getattr(exc, "colno", None)
    return f"line {line}, column {col}" if line else "not UTF-8 text"
