"""Reads a policy written as Markdown with YAML front matter.

The front matter holds what machines need (label scale, dimensions, the fields
rules may read, hard rules, precedents); the body holds the prose that people
read and that prompts quote. The schema lives in :mod:`stillroom.policy.schema`;
this reader adds what only it knows: the file and the line of each field.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from stillroom import hookimpl
from stillroom.errors import StillroomError
from stillroom.policy import Policy
from stillroom.policy.schema import PolicyFieldError, build_policy

FRONT_MATTER_FENCE = "---"
SUFFIXES = (".md", ".markdown")
FRONT_MATTER_FIRST_LINE = 2
"""File line of the front matter's first line: line 1 is the opening fence."""


def split_front_matter(text: str, path: Path) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        raise StillroomError("expected YAML front matter opening with '---' on the first line", where=f"{path}:1")
    for index in range(1, len(lines)):
        if lines[index].strip() == FRONT_MATTER_FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise StillroomError("front matter is not closed by a '---' line", where=str(path))


def field_lines(front_text: str) -> dict[str, int]:
    """The file line of every field of the front matter, keyed like ``rules[1].condition``."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        lines[path] = node.start_mark.line + FRONT_MATTER_FIRST_LINE
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                walk(value, child)
                lines[child] = key.start_mark.line + FRONT_MATTER_FIRST_LINE
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    root = yaml.compose(front_text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return lines


def _line_of(field: str, lines: dict[str, int]) -> int | None:
    """The line of ``field`` or of its nearest parent that is in the file (a missing key has no line)."""
    while field:
        if field in lines:
            return lines[field]
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else ""
    return None


CAUSE_CONTEXTS = ("while scanning", "while parsing a flow")
"""YAML errors whose cause is where their context starts, not where the reader gave up: a key without its colon,
an unclosed quote or bracket (found lines, even the whole file, later)."""


def _runaway_quote(front_text: str, before: int) -> tuple[int, int] | None:
    """The first quoted value before line ``before`` (0-based) that runs across lines, as (start, end): a quote left
    open swallows the lines after it until the next quote, and the reader gives up far below."""
    try:
        for token in yaml.scan(front_text, Loader=yaml.SafeLoader):
            if token.start_mark.line >= before:
                return None
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'") and token.end_mark.line > token.start_mark.line:
                return token.start_mark.line, token.end_mark.line
    except yaml.YAMLError:
        return None
    return None


def yaml_error(exc: yaml.YAMLError, path: Path, front_text: str) -> StillroomError:
    """``exc`` as the line a person fixes: the line that starts the broken construct where the error has one (an
    unclosed quote on line 3, found at the end of the file, is line 3), else the line the reader stopped at."""
    problem_mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None) or ""
    runaway = _runaway_quote(front_text, problem_mark.line) if problem_mark is not None else None
    if runaway is not None:
        start, end = (line + FRONT_MATTER_FIRST_LINE for line in runaway)
        said = f"the quoted value that starts on this line runs on to line {end}: is its closing quote missing? ({problem} on line {problem_mark.line + FRONT_MATTER_FIRST_LINE})"
        return StillroomError(f"front matter is not valid YAML: {said}", where=f"{path}:{start}")
    if context_mark is not None and context.startswith(CAUSE_CONTEXTS):
        line = context_mark.line + FRONT_MATTER_FIRST_LINE
        found = problem_mark.line + FRONT_MATTER_FIRST_LINE if problem_mark is not None else line
        said = f"{context} that starts on this line, {problem}" + (f" (line {found})" if found != line else "")
        return StillroomError(f"front matter is not valid YAML: {said}", where=f"{path}:{line}")
    where = f"{path}:{problem_mark.line + FRONT_MATTER_FIRST_LINE}" if problem_mark is not None else str(path)
    return StillroomError(f"front matter is not valid YAML: {problem}", where=where)


def _load_yaml(front_text: str, path: Path) -> Any:
    try:
        return yaml.safe_load(front_text)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path, front_text) from None


def parse_policy(path: Path) -> Policy:
    """Read, validate and return the policy at ``path``; raise :class:`StillroomError` at the first problem."""
    raw = path.read_bytes()
    if not raw.strip():
        raise StillroomError("policy file is empty; expected YAML front matter and prose", where=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StillroomError(f"policy is not UTF-8 text (byte {exc.start})", where=str(path)) from None
    front_text, body = split_front_matter(text, path)
    front = _load_yaml(front_text, path)
    try:
        return build_policy(front, body, source=str(path), sha256=hashlib.sha256(raw).hexdigest())
    except PolicyFieldError as error:
        line = _line_of(error.field, field_lines(front_text))
        raise StillroomError(f"{error.field}: {error.message}", where=f"{path}:{line}" if line else str(path)) from None


@hookimpl
def stillroom_load_policy(path: Path) -> Policy | None:
    if Path(path).suffix.lower() not in SUFFIXES:
        return None
    return parse_policy(Path(path))
