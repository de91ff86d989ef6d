"""Reads a policy written as Markdown with YAML front matter, and validates it.

The front matter holds what machines need (label scale, dimensions, hard rules,
precedents, the fields rules may read); the body holds the prose that people
read and that prompts quote. Every error names the file and the field, and says
what was expected.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stillroom import hookimpl
from stillroom.errors import StillroomError
from stillroom.policy import RULE_FUNCTIONS, RULE_NAMES, Dimension, HardRule, Label, Policy, Precedent

FRONT_MATTER_FENCE = "---"
SUFFIXES = (".md", ".markdown")


class _Reader:
    """Validation helpers that remember which file they are reading."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, message: str) -> StillroomError:
        return StillroomError(message, where=f"{self.path}: {field}")

    def mapping(self, value: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(field, f"expected a mapping, got {type(value).__name__}")
        return value

    def items(self, front: Mapping[str, Any], key: str, required: bool = True) -> list[Mapping[str, Any]]:
        value = front.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            raise self.fail(key, "expected a non-empty list")
        return [self.mapping(item, f"{key}[{i}]") for i, item in enumerate(value)]

    def field(self, item: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if key not in item:
            raise self.fail(f"{where}.{key}", "is required")
        value = item[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {expected}, got {value!r}")
        return value


def split_front_matter(text: str, path: Path) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        raise StillroomError("expected YAML front matter opening with '---' on the first line", where=f"{path}: line 1")
    for index in range(1, len(lines)):
        if lines[index].strip() == FRONT_MATTER_FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise StillroomError("front matter is not closed by a '---' line", where=str(path))


def _check_condition(reader: _Reader, condition: str, where: str, fields: Mapping[str, set[str]]) -> None:
    try:
        tree = ast.parse(condition, mode="eval")
    except SyntaxError as exc:
        raise reader.fail(where, f"condition is not a valid expression: {exc.msg}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in RULE_NAMES and node.id not in RULE_FUNCTIONS and node.id not in {"True", "False", "None"}:
            raise reader.fail(where, f"condition reads unknown name {node.id!r}; expected request.FIELD or candidate.FIELD")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in RULE_NAMES:
            known = fields.get(node.value.id, set())
            if known and node.attr not in known:
                raise reader.fail(where, f"condition reads unknown field {node.value.id}.{node.attr}; declared: {', '.join(sorted(known))}")


def parse_policy(path: Path) -> Policy:
    raw = path.read_bytes()
    if not raw.strip():
        raise StillroomError("policy file is empty", where=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StillroomError(f"policy is not UTF-8 text (byte {exc.start})", where=str(path)) from exc
    front_text, body = split_front_matter(text, path)
    try:
        front = yaml.safe_load(front_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 2}" if mark is not None else "front matter"
        raise StillroomError(f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}", where=f"{path}: {line}") from exc
    reader = _Reader(path)
    front = reader.mapping(front, "front matter")
    product = reader.field(front, "product", "front matter", str)
    version = str(reader.field(front, "version", "front matter", (str, int, float)))

    labels = tuple(
        Label(reader.field(item, "value", f"labels[{i}]", int), reader.field(item, "name", f"labels[{i}]", str), str(item.get("description", "")))
        for i, item in enumerate(reader.items(front, "labels"))
    )
    if [label.value for label in labels] != list(range(len(labels))) or len(labels) < 2:
        raise reader.fail("labels", "expected at least two labels with values 0, 1, 2, ... in order")
    scale = {label.value for label in labels}

    dimensions = tuple(
        Dimension(
            reader.field(item, "name", f"dimensions[{i}]", str),
            float(reader.field(item, "weight", f"dimensions[{i}]", (int, float))),
            str(item.get("description", "")),
        )
        for i, item in enumerate(reader.items(front, "dimensions"))
    )
    if len({d.name for d in dimensions}) != len(dimensions):
        raise reader.fail("dimensions", "dimension names must be unique")

    declared = reader.mapping(front.get("fields", {}), "fields")
    fields = {side: set(declared.get(side) or []) for side in RULE_NAMES}
    rules = []
    for i, item in enumerate(reader.items(front, "rules", required=False)):
        rule_id = reader.field(item, "id", f"rules[{i}]", str)
        if any(rule.id == rule_id for rule in rules):
            raise reader.fail(f"rules[{i}].id", f"duplicate rule id {rule_id!r}")
        condition = reader.field(item, "condition", f"rules[{i}]", str)
        _check_condition(reader, condition, f"rules[{i}].condition", fields)
        max_label = reader.field(item, "max_label", f"rules[{i}]", int)
        if max_label not in scale:
            raise reader.fail(f"rules[{i}].max_label", f"expected a label on the scale {sorted(scale)}, got {max_label}")
        rules.append(HardRule(rule_id, condition, max_label, str(item.get("description", ""))))

    precedents = []
    for i, item in enumerate(reader.items(front, "precedents", required=False)):
        label = reader.field(item, "label", f"precedents[{i}]", int)
        if label not in scale:
            raise reader.fail(f"precedents[{i}].label", f"expected a label on the scale {sorted(scale)}, got {label}")
        precedents.append(
            Precedent(
                reader.mapping(item.get("request"), f"precedents[{i}].request"),
                reader.mapping(item.get("candidate"), f"precedents[{i}].candidate"),
                label,
                reader.field(item, "why", f"precedents[{i}]", str),
            )
        )

    relevant = front.get("relevant_from", max(1, len(labels) // 2))
    if relevant not in scale:
        raise reader.fail("relevant_from", f"expected a label on the scale {sorted(scale)}, got {relevant!r}")
    return Policy(
        product=product,
        version=version,
        sha256=hashlib.sha256(raw).hexdigest(),
        labels=labels,
        dimensions=dimensions,
        rules=tuple(rules),
        precedents=tuple(precedents),
        body=body.strip(),
        source=str(path),
        relevant_label=int(relevant),
    )


@hookimpl
def stillroom_load_policy(path: Path) -> Policy | None:
    if Path(path).suffix.lower() not in SUFFIXES:
        return None
    return parse_policy(Path(path))
