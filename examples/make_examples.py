"""How ``my_pairs.jsonl`` was made: pairs from the jobs product's synthetic world, written as a team's own file.

Run it again to remake the file exactly (same seed): ``python examples/make_examples.py``. The pairs carry the
fields ``my_policy.md``'s hard rules read (``request.remote_only``, ``candidate.workplace``, ...), so the
compliance check has something to check; the labels follow the jobs policy, whose rules and scale
``my_policy.md`` keeps. Unlabeled lines are the pool the teacher labels.
"""

from __future__ import annotations

import json
from pathlib import Path

from stillroom.api import WorldSize, get_plugin_manager, load_policy
from stillroom.products.jobs.world import generate

HERE = Path(__file__).resolve().parent
SIZE = WorldSize(
    train_requests=100, dev_requests=0, test_requests=0, pool_requests=30, candidates_per_request=10, catalog=600, annotator_noise=0.1
)
"""100 labeled members (the jsonl source splits them into golden train, dev and test) and 30 unlabeled ones, 10 postings each."""
SEED = 11
KEPT = ("request_id", "candidate_id", "request_text", "candidate_text", "label")
RULE_FIELDS = {"request": ("seniority", "city", "remote_only", "open_to_relocation"), "candidate": ("seniority", "city", "workplace")}
"""The fields the policy's hard rules read: what a line needs beside its texts for the compliance check."""


def rows() -> list[dict]:
    policy = load_policy(str(HERE / "my_policy.md"), get_plugin_manager())
    bundle = generate(policy, SIZE, SEED)
    pairs = list(bundle.golden["train"]) + list(bundle.pool)
    members = {request_id: f"member-{index:03d}" for index, request_id in enumerate(dict.fromkeys(pair.request_id for pair in pairs))}
    return [
        {key: value for key, value in pair.to_row().items() if key in KEPT and value is not None}
        | {"request_id": members[pair.request_id]}
        | {side: {name: getattr(pair, side)[name] for name in names} for side, names in RULE_FIELDS.items()}
        for pair in pairs
    ]


if __name__ == "__main__":
    with open(HERE / "my_pairs.jsonl", "w", encoding="utf-8") as out:
        for row in rows():
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
