"""The product policy: the specification every model in a run answers to.

A policy is data, not code. Hard-rule conditions are expressions over the
request's and the candidate's fields, evaluated by ``simpleeval`` (a safe
expression library: no imports, no attribute access beyond the fields, no
calls but the few allowed), never by Python's ``eval``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from markdown_it import MarkdownIt
from simpleeval import AttributeDoesNotExist, NameNotDefined, SimpleEval

from stillroom.errors import StillroomError

RULE_FUNCTIONS = {"len": len, "abs": abs, "min": min, "max": max, "lower": str.lower}
"""The only functions a rule condition may call."""

RULE_NAMES = ("request", "candidate")
"""The names a rule condition may read: ``request.city``, ``candidate.workplace``."""


@dataclass(frozen=True)
class Label:
    """One grade of the ordinal label scale."""

    value: int
    name: str
    description: str


@dataclass(frozen=True)
class Dimension:
    """A consideration that decides relevance, with its weight."""

    name: str
    weight: float
    description: str


@dataclass(frozen=True)
class HardRule:
    """A rule that must never be broken: when ``condition`` holds, the label is at most ``max_label``."""

    id: str
    condition: str
    max_label: int
    description: str = ""

    @cached_property
    def fields(self) -> frozenset[tuple[str, str]]:
        """The ``(request|candidate, field)`` pairs the condition reads."""
        found = set()
        for node in ast.walk(ast.parse(self.condition, mode="eval")):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in RULE_NAMES:
                found.add((node.value.id, node.attr))
        return frozenset(found)

    def applies(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> bool:
        """Whether the condition holds for this pair.

        Raises :class:`RuleFieldMissing` when the pair lacks a field the rule reads, and
        :class:`RuleFailed` when the condition cannot be evaluated on the pair's values
        (comparing a number with a string, say).
        """
        evaluator = SimpleEval(functions=RULE_FUNCTIONS, names={"request": dict(request), "candidate": dict(candidate)})
        try:
            return bool(evaluator.eval(self.condition))
        except (AttributeDoesNotExist, NameNotDefined, KeyError) as exc:
            raise RuleFieldMissing(self.id, str(exc)) from exc
        except Exception as exc:  # simpleeval raises many kinds; each means "not on these values"
            raise RuleFailed(self.id, f"{type(exc).__name__}: {exc}") from exc


class RuleFieldMissing(LookupError):
    """A rule read a field that the pair does not have: the rule does not apply to that data."""

    def __init__(self, rule_id: str, detail: str) -> None:
        self.rule_id = rule_id
        super().__init__(f"rule {rule_id!r}: {detail}")


class RuleFailed(StillroomError):
    """A rule's condition could not be evaluated on a pair's values: the policy or the data is wrong."""

    def __init__(self, rule_id: str, detail: str) -> None:
        self.rule_id = rule_id
        super().__init__(f"rule {rule_id!r} cannot be evaluated on this pair: {detail}", where=f"rules.{rule_id}")


@dataclass(frozen=True)
class Precedent:
    """A worked example that settles an ambiguous case: its label and why."""

    request: Mapping[str, Any]
    candidate: Mapping[str, Any]
    label: int
    why: str


@dataclass(frozen=True)
class Policy:
    """A validated, versioned product policy (see ``stillroom policy`` and docs/guides/own-policy.md)."""

    product: str
    version: str
    sha256: str
    labels: tuple[Label, ...]
    dimensions: tuple[Dimension, ...]
    rules: tuple[HardRule, ...]
    precedents: tuple[Precedent, ...]
    body: str
    source: str
    relevant_label: int = field(default=2)
    """The lowest label that counts as relevant for binary metrics (AUC, MRR, MAP)."""
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The declared ``request`` and ``candidate`` fields that rules and precedents read."""
    max_violation_rate: float | None = None
    """The policy's own bound on a shipped model's violation rate at k (front matter), ``None`` when it sets none."""

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def max_label(self) -> int:
        return self.labels[-1].value

    def dimension_weights(self) -> dict[str, float]:
        return {d.name: d.weight for d in self.dimensions}

    def rules_broken(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[HardRule]:
        """The hard rules whose condition holds for this pair.

        A rule that reads a field the pair does not have cannot be checked on it
        and does not apply (a data source without that field).
        """
        broken = []
        for rule in self.rules:
            try:
                if rule.applies(request, candidate):
                    broken.append(rule)
            except RuleFieldMissing:
                continue
        return broken

    def cap(self, label: int, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> int:
        """``label`` lowered to the tightest ``max_label`` of the rules this pair breaks."""
        for rule in self.rules_broken(request, candidate):
            label = min(label, rule.max_label)
        return label

    def label_name(self, value: int) -> str:
        """The name of label ``value`` on the scale."""
        return self.labels[value].name

    def section(self, heading: str) -> str:
        """The prose under a Markdown heading of the body (without the heading), for prompts to quote."""
        return prose_section(self.body, heading)

    def summary(self) -> dict[str, Any]:
        """The lineage block that goes into manifests, model cards and reports."""
        return {"product": self.product, "version": self.version, "sha256": self.sha256, "source": self.source}


@lru_cache(maxsize=64)
def prose_section(markdown: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level.

    Headings are found by a Markdown parser, so a ``#`` inside a code block is not one.
    """
    lines = markdown.splitlines()
    tokens = MarkdownIt().parse(markdown)
    headings = [
        (int(token.tag[1]), tokens[i + 1].content.strip(), token.map[0])
        for i, token in enumerate(tokens)
        if token.type == "heading_open" and token.map is not None
    ]
    for index, (level, title, line) in enumerate(headings):
        if title.lower() == heading.lower():
            end = next((start for lvl, _, start in headings[index + 1 :] if lvl <= level), len(lines))
            return "\n".join(lines[line + 1 : end]).strip()
    known = ", ".join(repr(title) for _, title, _ in headings)
    raise KeyError(f"the policy prose has no heading {heading!r}; its headings: {known}")
