"""Putting requests into splits, whole: a member or a query is never in two of golden train, dev and test."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping


def assign_splits(request_ids: Iterable[str], shares: Mapping[str, float], seed: int) -> dict[str, str]:
    """Each distinct request id to a split name, by a seeded shuffle; ``shares`` are fractions, the last split takes the rest."""
    ids = sorted(set(request_ids))
    random.Random(seed).shuffle(ids)
    assigned: dict[str, str] = {}
    start = 0
    names = list(shares)
    for index, name in enumerate(names):
        end = len(ids) if index == len(names) - 1 else start + round(shares[name] * len(ids))
        assigned.update(dict.fromkeys(ids[start:end], name))
        start = end
    return assigned


def seeded_subset(ids: Iterable[str], limit: int | None, seed: int) -> list[str]:
    """At most ``limit`` of ``ids`` (all of them without a limit), a seeded choice that keeps their order."""
    ids = list(ids)
    if limit is None or limit >= len(ids):
        return ids
    chosen = set(random.Random(seed).sample(ids, limit))
    return [i for i in ids if i in chosen]
