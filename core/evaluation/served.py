"""Serving with the policy's hard rules applied, as the policy says: a rule breaker demoted or filtered.

A policy's hard rules are executable (:meth:`stillroom.policy.Policy.rules_broken`), so a ranking service can apply
them after the model. With ``serving.hard_rules: policy`` each rule does what its ``served`` says: ``demote`` (the
default) puts a candidate that breaks it after every compliant candidate of its request, the model's order kept on
each side; ``filter`` leaves the candidate out of the list (a hidden profile is never listed). A candidate breaking a
filtering rule is left out whatever else it breaks. Where a request has fewer compliant candidates than the report's
top k, demoted rule breakers still fill the rest: the violation rate as served is then the slates' floor, whatever
the model.

The evaluation ranks every model and every baseline served the same way, so that the comparisons stay fair (BM25
with the rules applied is the rival of a student with the rules applied), and keeps each model's figures alone
beside them, so the report can say what the model does and what serving adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from stillroom.errors import StillroomError
from stillroom.evaluation.evaluators import EvalInput
from stillroom.policy import HardRule

OFF, POLICY = "off", "policy"
MODES = (OFF, POLICY)
DEMOTE, FILTER = "demote", "filter"
WHERE = "serving.hard_rules"


def check_mode(mode: object) -> str:
    """``mode`` when it is one ``serving.hard_rules`` takes; else an error naming the key."""
    if mode not in MODES:
        quoted = ' (YAML reads a bare off as false: write "off")' if mode in (False, "False", "false") else ""
        raise StillroomError(f"expected one of {', '.join(MODES)}, got {mode!r}{quoted}", where=WHERE)
    return str(mode)


def action(broken: Sequence[HardRule]) -> str | None:
    """What serving does with a candidate that breaks ``broken``: ``filter`` if one of them says so, else ``demote``;
    ``None`` for a compliant one."""
    if not broken:
        return None
    return FILTER if any(rule.served == FILTER for rule in broken) else DEMOTE


def demoted(scores: torch.Tensor, broken: torch.Tensor) -> torch.Tensor:
    """``scores`` with every rule breaker moved below every compliant pair, each side's order kept.

    Example::

        >>> import torch
        >>> demoted(torch.tensor([0.9, 0.2, 0.5]), torch.tensor([True, False, False])).argsort(descending=True).tolist()
        [2, 1, 0]
    """
    if not bool(broken.any()):
        return scores
    span = float(scores.max() - scores.min()) + 1.0
    return torch.where(broken, scores - span, scores)


def as_served(inputs: EvalInput) -> EvalInput:
    """``inputs`` as a service applying the policy lists them: filtered candidates left out, demoted ones after every
    compliant one (their probabilities kept, so label agreement reads the pairs listed)."""
    actions = [action(inputs.policy.rules_broken(pair.request, pair.candidate)) for pair in inputs.pairs]
    if not any(actions):
        return inputs
    scores = demoted(inputs.scores, torch.tensor([a == DEMOTE for a in actions], dtype=torch.bool))
    kept = [row for row, a in enumerate(actions) if a != FILTER]
    rows = torch.tensor(kept, dtype=torch.long)
    probs = inputs.probs[rows] if inputs.probs is not None else None
    return replace(inputs, pairs=[inputs.pairs[row] for row in kept], probs=probs, ranking_scores=scores[rows])
