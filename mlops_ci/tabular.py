"""Checks that a tabular dataset's files are CSV or Parquet with a header that parses, and reads the column names."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from mlops_ci.errors import InputError

TABULAR_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": ""}
HEAD_BYTES = 1 << 20


def columns_of(input_name: str, files: list[tuple[str, Path]]) -> tuple[str, ...]:
    """The shared header of every CSV/TSV file (Parquet files are checked by their magic numbers)."""
    header: tuple[str, ...] = ()
    header_from = ""
    for relpath, path in files:
        suffix = path.suffix.lower()
        if suffix not in TABULAR_SUFFIXES:
            raise InputError(input_name, f"Input '{input_name}' holds '{relpath}', which is not CSV, TSV or Parquet.",
                             fix="A tabular dataset holds .csv, .tsv or .parquet files; use dataset-type: file for "
                                 "anything else.")
        if suffix == ".parquet":
            _check_parquet(input_name, relpath, path)
            continue
        columns = _csv_header(input_name, relpath, path, TABULAR_SUFFIXES[suffix])
        if header and columns != header:
            raise InputError(input_name, f"Input '{input_name}': '{relpath}' has other columns than '{header_from}'.",
                             fix="Every file of a tabular dataset needs the same header.")
        header, header_from = columns, relpath
    return header


def _csv_header(input_name: str, relpath: str, path: Path, delimiter: str) -> tuple[str, ...]:
    with open(path, "rb") as handle:
        head = handle.read(HEAD_BYTES)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        # The cut may have split a character; only the first line matters.
        text = head[: head.find(b"\n") + 1 or len(head)].decode("utf-8-sig", errors="strict") if b"\n" in head else ""
        if not text:
            raise InputError(input_name, f"Input '{input_name}': '{relpath}' is not UTF-8 text.",
                             fix="Save the CSV as UTF-8.") from None
    first_line = text.split("\n", 1)[0]
    if "\n" not in text and len(head) == HEAD_BYTES:
        raise InputError(input_name, f"Input '{input_name}': the first line of '{relpath}' is longer than 1 MiB.",
                         fix="Check that the file is a CSV with a header line.")
    if not first_line.strip():
        raise InputError(input_name, f"Input '{input_name}': '{relpath}' has no header line.",
                         fix="Put the column names on the first line.")
    try:
        row = next(csv.reader(io.StringIO(first_line), delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration) as exc:
        raise InputError(input_name, f"Input '{input_name}': the header of '{relpath}' does not parse ({exc}).",
                         fix="Put the column names on the first line, separated by commas.") from None
    columns = tuple(column.strip() for column in row)
    if any(not column for column in columns):
        raise InputError(input_name, f"Input '{input_name}': the header of '{relpath}' has an empty column name.",
                         fix="Name every column on the first line.")
    if len(set(columns)) != len(columns):
        duplicate = next(c for c in columns if columns.count(c) > 1)
        raise InputError(input_name, f"Input '{input_name}': the header of '{relpath}' names column '{duplicate}' "
                         "twice.", fix="Give every column its own name.")
    return columns


def _check_parquet(input_name: str, relpath: str, path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = handle.read(4)
        if size >= 12:
            handle.seek(size - 8)
            tail = handle.read(8)
        else:
            tail = b""
    footer = int.from_bytes(tail[:4], "little") if tail else 0
    if start != b"PAR1" or tail[4:] != b"PAR1" or not 0 < footer <= size - 12:
        raise InputError(input_name, f"Input '{input_name}': '{relpath}' is not a Parquet file.",
                         fix="Write it with a Parquet writer (pandas, pyarrow), or use a CSV.")
