"""Reading data files line by line, so that every complaint names the file, the line and what was expected.

A data file is read whole before anything is written: a bad line stops the
run in ``prepare``, with nothing of that stage left behind.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stillroom.errors import StillroomError


def data_error(path: Path, line: int | None, message: str) -> StillroomError:
    """A bad-input error that points at ``path``, and at ``line`` (1-based) when there is one."""
    return StillroomError(message, where=f"{path}:{line}" if line else str(path))


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's non-blank lines with their numbers; a missing, empty or non-UTF-8 file is an error."""
    if not path.is_file():
        raise data_error(path, None, "no such file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise data_error(path, line, f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})") from None
    if not text.strip():
        raise data_error(path, None, "the file is empty")
    for number, line_text in enumerate(text.splitlines(), start=1):
        if line_text.strip():
            yield number, line_text


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each line of a JSONL file as an object, with its line number."""
    for number, line in text_lines(path):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise data_error(path, number, f"not valid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})") from None
        if not isinstance(value, dict):
            raise data_error(path, number, f"expected a JSON object, got {type(value).__name__}")
        yield number, value


def tsv_rows(path: Path, columns: Sequence[str], header: bool = True) -> Iterator[tuple[int, list[str]]]:
    """The rows of a tab-separated file of ``columns``, with their line numbers; with ``header``, its first line must name them."""
    lines = text_lines(path)
    if header:
        number, first = next(lines)
        if first.split("\t") != list(columns):
            raise data_error(path, number, f"expected the header row {' / '.join(columns)} (tab-separated), got {first!r}")
    for number, line in lines:
        row = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(row) != len(columns):
            raise data_error(path, number, f"expected {len(columns)} tab-separated columns ({', '.join(columns)}), got {len(row)}")
        yield number, row


def field(row: Mapping[str, Any], name: str, kind: type | tuple[type, ...], path: Path, line: int, required: bool = True) -> Any:
    """``row[name]`` checked against ``kind``; strings must not be blank. Missing and not ``required`` gives ``None``."""
    if name not in row or row[name] is None:
        if required:
            raise data_error(path, line, f"missing field {name!r}")
        return None
    value = row[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # JSON true is not a label
        expected = " or ".join(k.__name__ for k in kinds)
        raise data_error(path, line, f"field {name!r} must be {expected}, got {type(value).__name__} {value!r}"[:200])
    if isinstance(value, str) and not value.strip():
        raise data_error(path, line, f"field {name!r} is empty")
    return value
