"""What changed between two versions of a policy, label by label and rule by rule.

Reviewers of a policy change need to see its consequences, not a text diff of
YAML: which label's meaning moved, which rule got stricter, which precedent now
settles a case differently. Entries are matched by their identity (a label by
its value, a dimension by name, a rule by id, a precedent by its pair), so a
reordered file shows no change.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from stillroom.policy import Policy, Precedent

T = TypeVar("T")

ADDED, REMOVED, CHANGED = "+", "-", "~"


def _changes(old: Any, new: Any, attributes: Iterable[str]) -> list[str]:
    return [f"{name} {getattr(old, name)!r} -> {getattr(new, name)!r}" for name in attributes if getattr(old, name) != getattr(new, name)]


def _section(
    title: str,
    old: Iterable[T],
    new: Iterable[T],
    key: Callable[[T], Any],
    describe: Callable[[T], str],
    attributes: tuple[str, ...],
) -> list[str]:
    before = {key(item): item for item in old}
    after = {key(item): item for item in new}
    lines = []
    for identity, item in after.items():
        if identity not in before:
            lines.append(f"  {ADDED} {describe(item)}")
        elif changes := _changes(before[identity], item, attributes):
            lines.append(f"  {CHANGED} {describe(item)}: {'; '.join(changes)}")
    lines += [f"  {REMOVED} {describe(item)}" for identity, item in before.items() if identity not in after]
    return [f"{title}:", *lines] if lines else []


def _precedent_key(precedent: Precedent) -> str:
    return json.dumps([precedent.request, precedent.candidate], sort_keys=True, default=str)


def _describe_precedent(precedent: Precedent) -> str:
    """The first few fields of each side: enough to recognise the case."""
    request = ", ".join(f"{k}={v}" for k, v in list(precedent.request.items())[:3])
    candidate = ", ".join(f"{k}={v}" for k, v in list(precedent.candidate.items())[:3])
    return f"({request} | {candidate}) label {precedent.label}"


def _fields(old: Mapping[str, tuple[str, ...]], new: Mapping[str, tuple[str, ...]]) -> list[str]:
    lines = []
    for side in sorted(set(old) | set(new)):
        added = sorted(set(new.get(side, ())) - set(old.get(side, ())))
        removed = sorted(set(old.get(side, ())) - set(new.get(side, ())))
        lines += [f"  {ADDED} {side}.{name}" for name in added] + [f"  {REMOVED} {side}.{name}" for name in removed]
    return ["fields:", *lines] if lines else []


def _prose(old: str, new: str) -> list[str]:
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "old", "new", lineterm="", n=1))[2:]
    if not diff:
        return []
    added = sum(line.startswith("+") for line in diff)
    removed = sum(line.startswith("-") for line in diff)
    return [f"prose: {added} line(s) added, {removed} removed", *(f"  {line}" for line in diff)]


def diff_policies(old: Policy, new: Policy) -> list[str]:
    """Human-readable lines for every change from ``old`` to ``new``; empty when they specify the same policy."""
    lines = []
    for name in ("product", "version", "relevant_label", "max_violation_rate"):
        if getattr(old, name) != getattr(new, name):
            lines.append(f"{name}: {getattr(old, name)!r} -> {getattr(new, name)!r}")
    lines += _section("labels", old.labels, new.labels, lambda x: x.value, lambda x: f"{x.value} {x.name}", ("name", "description"))
    lines += _section(
        "dimensions", old.dimensions, new.dimensions, lambda x: x.name, lambda x: f"{x.name} (weight {x.weight:g})", ("weight", "description")
    )
    lines += _fields(old.fields, new.fields)
    lines += _section(
        "rules", old.rules, new.rules, lambda x: x.id, lambda x: f"{x.id} (max label {x.max_label})", ("condition", "max_label", "description")
    )
    lines += _section("precedents", old.precedents, new.precedents, _precedent_key, _describe_precedent, ("label", "why"))
    lines += _prose(old.body, new.body)
    return lines
