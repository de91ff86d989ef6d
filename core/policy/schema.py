"""The schema of a policy document, and the checks that make it a consistent spec.

A loader (the Markdown one, or a team's own) parses its file into plain data and
calls :func:`build_policy`. Validation runs in two passes:

* **shape**, by pydantic: required keys, types, no unknown keys (a typo such as
  ``max_lable`` is an error, not a silently ignored line);
* **meaning**: an ordinal label scale, unique ids, rule conditions that parse
  and read only declared fields, labels on the scale, and precedents that obey
  the policy's own hard rules.

Either pass raises :class:`PolicyFieldError` naming the field (``rules[1].id``);
the loader turns the field into a file and a line.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from stillroom.policy import RULE_FUNCTIONS, RULE_NAMES, Dimension, HardRule, Label, Policy, Precedent, RuleFailed, RuleFieldMissing

NonEmpty = Annotated[StrictStr, Field(min_length=1)]


class PolicyFieldError(ValueError):
    """One problem in a policy document, at ``field`` (a path such as ``precedents[2].label``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelEntry(_Entry):
    value: StrictInt
    name: NonEmpty
    description: StrictStr = ""


class DimensionEntry(_Entry):
    name: NonEmpty
    weight: Annotated[float, Field(gt=0, strict=True)]
    description: StrictStr = ""


class FieldsEntry(_Entry):
    request: list[NonEmpty] = Field(min_length=1)
    candidate: list[NonEmpty] = Field(min_length=1)


class RuleEntry(_Entry):
    id: Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    condition: NonEmpty
    max_label: StrictInt
    description: StrictStr = ""
    served: Literal["demote", "filter"] = "demote"


class PrecedentEntry(_Entry):
    request: dict[str, Any]
    candidate: dict[str, Any]
    label: StrictInt
    why: NonEmpty


class PolicyDocument(_Entry):
    """The front matter of a policy: what machines read. The prose body is what people read."""

    product: NonEmpty
    version: Annotated[StrictStr, Field(min_length=1)]
    """A string ("1.2.0"): YAML would read an unquoted 1.10 as the number 1.1."""
    relevant_from: StrictInt | None = None
    """The lowest label that counts as relevant for binary metrics; the upper half of the scale by default."""
    labels: list[LabelEntry] = Field(min_length=2)
    dimensions: list[DimensionEntry] = Field(min_length=1)
    fields: FieldsEntry | None = None
    """The fields of a request and of a candidate that rules and precedents may read."""
    rules: list[RuleEntry] = []
    precedents: list[PrecedentEntry] = []
    max_violation_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    """The most a shipped model may break the hard rules: the share of its top-k slots on golden test that hold
    a rule-breaking candidate (the run's ``compliance.max_violation_rate`` overrides it)."""


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "front matter"


def _keys_allowed_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema allows in the mapping that holds ``loc``."""
    sections: dict[str, type[BaseModel]] = {
        "labels": LabelEntry, "dimensions": DimensionEntry, "fields": FieldsEntry, "rules": RuleEntry, "precedents": PrecedentEntry,
    }
    model = sections.get(loc[0], PolicyDocument) if len(loc) > 1 else PolicyDocument
    return list(model.model_fields)


def _explain(error: Mapping[str, Any]) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][-1]), _keys_allowed_at(error["loc"]), n=1)
        return "is not a policy field" + (f"; did you mean {close[0]!r}?" if close else "")
    if error["loc"] == ("version",):
        return f"expected a quoted string such as \"1.0.0\", got {error['input']!r}"
    if kind == "string_pattern_mismatch":
        return f"expected lowercase letters, digits, '-' or '_', got {error['input']!r}"
    return f"{message[0].lower()}{message[1:]}, got {error['input']!r}"


def parse_document(data: Any) -> PolicyDocument:
    """Check the shape of the front matter; raise :class:`PolicyFieldError` at the first problem."""
    if not isinstance(data, Mapping):
        raise PolicyFieldError("front matter", f"expected a mapping of policy fields, got {type(data).__name__}")
    try:
        return PolicyDocument.model_validate(dict(data))
    except ValidationError as exc:
        # An unknown key is usually a typo of a required one: report the typo, not the key it hid.
        errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        first = errors[0]
        raise PolicyFieldError(_path(first["loc"]), _explain(first)) from None


def _check_scale(doc: PolicyDocument) -> set[int]:
    values = [label.value for label in doc.labels]
    if values != list(range(len(values))):
        raise PolicyFieldError("labels", f"expected an ordinal scale with values 0, 1, 2, ... in order, got {values}")
    _check_unique([label.name for label in doc.labels], "labels", "name")
    return set(values)


def _check_unique(names: list[str], field: str, key: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise PolicyFieldError(f"{field}[{index}].{key}", f"duplicate {key} {name!r}")
        seen.add(name)


def _on_scale(value: int, scale: set[int], field: str) -> None:
    if value not in scale:
        raise PolicyFieldError(field, f"expected a label on the scale {sorted(scale)}, got {value}")


def _check_condition(condition: str, field: str, declared: Mapping[str, set[str]]) -> None:
    try:
        tree = ast.parse(condition, mode="eval")
    except SyntaxError as exc:
        raise PolicyFieldError(field, f"condition is not a valid expression: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in (*RULE_NAMES, *RULE_FUNCTIONS, "True", "False", "None"):
            raise PolicyFieldError(field, f"condition reads unknown name {node.id!r}; expected request.FIELD or candidate.FIELD")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise PolicyFieldError(field, f"condition reads private attribute {node.attr!r}; expected request.FIELD or candidate.FIELD")
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in RULE_NAMES:
            raise PolicyFieldError(field, f"condition indexes {node.value.id}[...]; write {node.value.id}.FIELD so the field can be checked")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in RULE_NAMES:
            known = declared[node.value.id]
            if node.attr not in known:
                raise PolicyFieldError(
                    field, f"condition reads unknown field {node.value.id}.{node.attr}; declared {node.value.id} fields: {', '.join(sorted(known))}"
                )


def _check_precedent(precedent: Precedent, index: int, rules: tuple[HardRule, ...], declared: Mapping[str, set[str]]) -> None:
    for side, values in (("request", precedent.request), ("candidate", precedent.candidate)):
        for key in values:
            if key not in declared[side]:
                raise PolicyFieldError(f"precedents[{index}].{side}.{key}", f"is not a declared {side} field ({', '.join(sorted(declared[side]))})")
    for rule in rules:
        try:
            broken = rule.applies(precedent.request, precedent.candidate)
        except RuleFieldMissing:
            raise PolicyFieldError(
                f"precedents[{index}]", f"lacks a field that rule {rule.id!r} reads ({', '.join(f'{s}.{f}' for s, f in sorted(rule.fields))})"
            ) from None
        except RuleFailed as exc:
            raise PolicyFieldError(f"precedents[{index}]", f"rule {rule.id!r} cannot be evaluated on it: {exc.message.split(': ', 1)[-1]}") from None
        if broken and precedent.label > rule.max_label:
            raise PolicyFieldError(
                f"precedents[{index}].label",
                f"label {precedent.label} contradicts hard rule {rule.id!r}, which caps this pair at {rule.max_label}",
            )


def build_policy(data: Any, body: str, *, source: str, sha256: str) -> Policy:
    """Validate a parsed policy document and return the :class:`Policy` it specifies."""
    doc = parse_document(data)
    scale = _check_scale(doc)
    _check_unique([d.name for d in doc.dimensions], "dimensions", "name")
    _check_unique([r.id for r in doc.rules], "rules", "id")
    if (doc.rules or doc.precedents) and doc.fields is None:
        raise PolicyFieldError("fields", "is required when there are rules or precedents: list the request and candidate fields they read")
    declared = {"request": set(doc.fields.request), "candidate": set(doc.fields.candidate)} if doc.fields else {s: set() for s in RULE_NAMES}
    rules = []
    for index, entry in enumerate(doc.rules):
        _check_condition(entry.condition, f"rules[{index}].condition", declared)
        _on_scale(entry.max_label, scale, f"rules[{index}].max_label")
        rules.append(HardRule(entry.id, entry.condition, entry.max_label, entry.description, entry.served))
    precedents = []
    for index, entry in enumerate(doc.precedents):
        _on_scale(entry.label, scale, f"precedents[{index}].label")
        precedent = Precedent(entry.request, entry.candidate, entry.label, entry.why)
        _check_precedent(precedent, index, tuple(rules), declared)
        precedents.append(precedent)
    relevant = doc.relevant_from if doc.relevant_from is not None else max(1, len(scale) // 2)
    _on_scale(relevant, scale, "relevant_from")
    return Policy(
        product=doc.product,
        version=doc.version,
        sha256=sha256,
        labels=tuple(Label(e.value, e.name, e.description) for e in doc.labels),
        dimensions=tuple(Dimension(e.name, float(e.weight), e.description) for e in doc.dimensions),
        rules=tuple(rules),
        precedents=tuple(precedents),
        body=body.strip(),
        source=source,
        relevant_label=relevant,
        fields={side: tuple(sorted(names)) for side, names in declared.items()},
        max_violation_rate=doc.max_violation_rate,
    )
