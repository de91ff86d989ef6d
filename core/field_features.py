"""Features a product declares over a pair's structured fields: what production's feature store hands a ranker.

A ranking system knows more about a pair than its two texts: whether the
post's author is one of the member's connections, whether the profile's
title is the one the query names, how old the post is. A product declares
such facts once, in its config, as safe expressions over the pair's fields
(the ones its policy names), evaluated as the policy's hard rules are
(``simpleeval``: no imports, no calls but ``len``, ``abs``, ``min``, ``max``
and ``lower``)::

    product:
      features:
        by_connection: candidate.author in request.connections
        age_weeks: min(candidate.age_hours / 168, 4)

Each pair then carries their values (:attr:`stillroom.data.Pair.features`,
computed when the data is prepared and for the policy's precedents), and a
model lists the names it reads among its ``features`` beside
``first_stage_score``. A value is read as it is, not normalised: a truth
value is 0 or 1, and a number should be written on a scale of about one. A
pair that lacks a field an expression reads (data without fields) reads 0.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simpleeval import AttributeDoesNotExist, NameNotDefined, SimpleEval

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.policy.model import RULE_FUNCTIONS, RULE_NAMES

WHERE = "product.features"
"""Where a product declares its features in the run config."""


@dataclass(frozen=True)
class FieldFeature:
    """One declared feature: its name and the expression over ``request.FIELD`` and ``candidate.FIELD`` it is.

    Example::

        >>> from stillroom.api import FieldFeature
        >>> feature = FieldFeature("by_connection", "candidate.author in request.connections")
        >>> feature.value({"connections": ["Ana Lopez"]}, {"author": "Ana Lopez"}), feature.value({}, {})
        (1.0, 0.0)
    """

    name: str
    """What a model's ``features`` list calls it (``by_connection``): the key in ``product.features``."""
    expression: str
    """A safe expression over ``request.FIELD`` and ``candidate.FIELD`` whose value is the feature."""

    def value(self, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> float:
        """The feature of one pair: a truth value as 0 or 1, a number as it is, 0 where a field it reads is missing or
        ``None``; anything else is an error naming the feature."""
        evaluator = SimpleEval(functions=RULE_FUNCTIONS, names={"request": dict(request), "candidate": dict(candidate)})
        try:
            value = evaluator.eval(self.expression)
        except (AttributeDoesNotExist, NameNotDefined, KeyError):
            return 0.0
        except Exception as exc:  # simpleeval raises many kinds; each means "not on these values"
            pair = f"{dict(request)!r:.60} / {dict(candidate)!r:.60}"
            raise StillroomError(f"cannot be evaluated on {pair}: {exc}", where=f"{WHERE}.{self.name}") from None
        if value is None:
            return 0.0
        if isinstance(value, bool | int | float):
            return float(value)
        raise StillroomError(f"gave {value!r:.40}, expected a number or a truth value", where=f"{WHERE}.{self.name}")


def declared_features(declared: Mapping[str, str] | None) -> tuple[FieldFeature, ...]:
    """The features a product's config declares (``product.features``: name -> expression), each expression checked:
    it parses and reads only ``request.FIELD`` and ``candidate.FIELD`` and the allowed functions."""
    features = []
    for name, expression in (declared or {}).items():
        where = f"{WHERE}.{name}"
        if not isinstance(expression, str):
            raise StillroomError(f"expected an expression over request.FIELD and candidate.FIELD, got {expression!r}", where=where)
        try:
            tree = ast.parse(expression, mode="eval")
        except SyntaxError as exc:
            raise StillroomError(f"is not a valid expression: {exc.msg}", where=where) from None
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in (*RULE_NAMES, *RULE_FUNCTIONS, "True", "False", "None"):
                raise StillroomError(f"reads unknown name {node.id!r}; expected request.FIELD or candidate.FIELD", where=where)
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                raise StillroomError(f"reads private attribute {node.attr!r}", where=where)
        features.append(FieldFeature(str(name), expression))
    return tuple(features)


def with_field_features(pairs: Sequence[Pair], features: Sequence[FieldFeature]) -> list[Pair]:
    """``pairs``, each carrying the value of every declared feature (unchanged when none is declared)."""
    if not features:
        return list(pairs)
    return [
        dataclasses.replace(pair, features={**pair.features, **{f.name: f.value(pair.request, pair.candidate) for f in features}}) for pair in pairs
    ]
