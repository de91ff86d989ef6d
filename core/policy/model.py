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
    """One grade of the ordinal label scale.

    A policy's ``labels`` run from 0 (not relevant) up, one :class:`Label` each; a ranker's logits have one
    column per label, in this order.

    Example::

        >>> from stillroom.api import Label
        >>> scale = (Label(0, "not_relevant", "The member would not apply."),
        ...          Label(1, "relevant", "A job the member could apply to."))
        >>> {label.value: label.name for label in scale}  # an exported model's id2label
        {0: 'not_relevant', 1: 'relevant'}
    """

    value: int
    """The grade's number, its place on the scale: 0, 1, 2, ... in order, higher meaning more relevant."""
    name: str
    """The grade's name (``highly_relevant``): reports, gate messages and an exported model's id2label show it."""
    description: str
    """What the grade means, in a sentence: a judge's prompt lists each label with it."""


@dataclass(frozen=True)
class Dimension:
    """A consideration that decides relevance, with its weight.

    Dimensions are how annotators weigh a pair; a synthetic world scores each one in [0, 1] and its annotator labels
    the pair by their weighted mean (:class:`~stillroom.synthetic.PolicyAnnotator`).

    Example::

        >>> from stillroom.api import Dimension
        >>> dimensions = (Dimension("role_match", 0.4, "Same title, same family, or unrelated work."),
        ...               Dimension("skill_overlap", 0.3, "Share of the posting's skills the member lists."))
        >>> scores = {"role_match": 1.0, "skill_overlap": 0.5}
        >>> round(sum(d.weight * scores[d.name] for d in dimensions) / sum(d.weight for d in dimensions), 3)
        0.786
    """

    name: str
    """The dimension's id (``role_match``), unique in the policy; a synthetic world scores dimensions by name."""
    weight: float
    """Its share of the judgement, relative to the other dimensions' weights (positive; they need not add up to 1)."""
    description: str
    """What the dimension measures, in a sentence for people (``stillroom policy check`` prints it)."""


@dataclass(frozen=True)
class HardRule:
    """A rule that must never be broken: when ``condition`` holds, the label is at most ``max_label``.

    The ``policy_compliance`` evaluator counts how often a model puts a pair that breaks a rule in a request's top
    k. A rule that reads a field a data source's pairs lack does not apply to that data: give your pairs' ``request``
    and ``candidate`` the fields the policy's rules read (each rule's :attr:`fields`).

    Example::

        >>> from stillroom.api import HardRule
        >>> rule = HardRule("seniority-reach", "candidate.seniority - request.seniority >= 2", max_label=1)
        >>> sorted(rule.fields)
        [('candidate', 'seniority'), ('request', 'seniority')]
        >>> rule.applies({"seniority": 1}, {"seniority": 4}), rule.applies({"seniority": 3}, {"seniority": 4})
        (True, False)
    """

    id: str
    """The rule's name (``seniority-reach``; lowercase letters, digits, ``-``, ``_``): reports count breaches by it."""
    condition: str
    """An expression over ``request.FIELD`` and ``candidate.FIELD`` (fields the policy declares), evaluated by
    ``simpleeval``; it may call ``len``, ``abs``, ``min``, ``max`` and ``lower`` only."""
    max_label: int
    """The highest label a pair that meets the condition may have (0: never relevant)."""
    description: str = ""
    """The rule in words, for people reading the policy."""
    served: str = "demote"
    """What a ranking service that applies the policy (``serving.hard_rules: policy``) does with a candidate that breaks
    it: ``demote`` (below every compliant candidate of its request) or ``filter`` (never listed)."""

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
    """A worked example that settles an ambiguous case: its label and why.

    The product's ``stillroom_render_pair`` renders it into texts; the gate checks that a labeler labels every
    precedent as the policy does, training may repeat them (``labeling.precedent_copies``) and a prompted judge
    quotes the nearest ones. A precedent must obey the policy's own hard rules.

    Example::

        >>> from stillroom.api import HardRule, Precedent
        >>> precedent = Precedent({"seniority": 1}, {"seniority": 4}, label=1,
        ...                       why="Right role, but a Staff posting is three levels above a Junior member.")
        >>> rule = HardRule("seniority-reach", "candidate.seniority - request.seniority >= 2", max_label=1)
        >>> rule.applies(precedent.request, precedent.candidate) and precedent.label <= rule.max_label
        True
    """

    request: Mapping[str, Any]
    """The request's fields (among the policy's declared request fields), as the rules read them."""
    candidate: Mapping[str, Any]
    """The candidate's fields (among the policy's declared candidate fields), as the rules read them."""
    label: int
    """The label the policy gives this pair, on its scale and within the cap of every rule the pair breaks."""
    why: str
    """Why, in a sentence: the gate quotes it when a labeler gets the precedent wrong, and a judge's prompt with it."""


@dataclass(frozen=True)
class Policy:
    """A validated, versioned product policy (see ``stillroom policy`` and docs/guides/own-policy.md).

    A data source gets the run's policy: the labels it gives must be on its scale, and its pairs should carry the
    fields its rules read (``fields``), so that ``cap`` and ``rules_broken`` can check them. An evaluator gets it in
    its :class:`~stillroom.evaluation.EvalInput`, a model builder in its :class:`~stillroom.ranker.BuildContext`.

    Example::

        >>> from stillroom.api import HardRule, Label, Policy
        >>> policy = Policy(
        ...     product="courses", version="1.0.0", sha256="0" * 64, source="policy.md", body="# Courses",
        ...     labels=tuple(Label(i, name, "") for i, name in enumerate(["off", "related", "good", "ideal"])),
        ...     dimensions=(), precedents=(),
        ...     rules=(HardRule("language", "candidate.language not in request.languages", max_label=0),),
        ... )
        >>> policy.num_labels, policy.label_name(policy.max_label)
        (4, 'ideal')
        >>> learner, course = {"languages": ["en"]}, {"language": "de"}
        >>> [rule.id for rule in policy.rules_broken(learner, course)], policy.cap(3, learner, course)
        (['language'], 0)

        A run's policy comes from its file (``product.policy``), read by ``stillroom_load_policy``.
    """

    product: str
    """The product the policy governs (its front matter's ``product``); model cards and reports name it."""
    version: str
    """The version the document declares (``"1.2.0"``), for people; reports and model cards show it with ``sha256``."""
    sha256: str
    """The sha256 of the policy file: it joins every stage's fingerprint and is stamped on labels, which a run under
    another policy refuses to read."""
    labels: tuple[Label, ...]
    """The ordinal scale, label 0 first (``labels[i].value == i``); a ranker returns one logit per label."""
    dimensions: tuple[Dimension, ...]
    """What decides relevance, with weights: a synthetic world's annotator labels by them."""
    rules: tuple[HardRule, ...]
    """The hard rules: ``cap`` and ``rules_broken`` apply them; the ``policy_compliance`` evaluator counts breaches."""
    precedents: tuple[Precedent, ...]
    """The worked examples that settle hard cases, which the gate checks a labeler against."""
    body: str
    """The prose after the front matter (Markdown): what people read and a judge's prompt quotes (``section``)."""
    source: str
    """Where the policy was read from (the file's path), for error messages and lineage."""
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
