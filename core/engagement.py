"""The engagement log as labels: how far a member went with a candidate, on the product's own scale.

``product.engagement_events`` lists the events from the weakest to the
strongest (jobs: ``[viewed, applied]``). A pair's engagement grade is the level
of the strongest event that happened: 0 for none, 1 for the first, and so on.
The engagement teacher learns these grades; the student then learns both what
the policy calls relevant and what members act on, each from its own teacher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stillroom.data import Pair
from stillroom.errors import StillroomError

ROLE = "engagement_teacher"
"""The config group and model role of the engagement teacher."""
KEY_FIELDS = ("request_id", "candidate_id")


def engagement_grades(rows: Iterable[Mapping[str, Any]], events: Sequence[str], where: str) -> dict[tuple[str, str], int]:
    """Each logged pair's engagement grade, keyed by ``(request_id, candidate_id)``; a bad row is a clear error."""
    if not events:
        raise StillroomError("an engagement teacher needs the product's engagement events, weakest first", where="product.engagement_events")
    grades = {}
    for line, row in enumerate(rows, 1):
        missing = [name for name in (*KEY_FIELDS, *events) if name not in row]
        if missing:
            raise StillroomError(f"engagement row {line} lacks {', '.join(missing)}; expected {', '.join((*KEY_FIELDS, *events))}", where=where)
        grade = 0
        for level, event in enumerate(events, 1):
            if row[event]:
                grade = level
        grades[(str(row["request_id"]), str(row["candidate_id"]))] = grade
    return grades


def graded_pairs(pairs: Sequence[Pair], grades: Mapping[tuple[str, str], int]) -> list[tuple[Pair, int]]:
    """The pairs the log covers, each with its engagement grade."""
    return [(pair, grades[key]) for pair in pairs if (key := (pair.request_id, pair.candidate_id)) in grades]
