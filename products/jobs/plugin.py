"""The jobs product plugin: its synthetic world as a data source, and how its pairs read as text.

Registered through the ``stillroom`` entry-point group, as a product team's
own package would be. Its config is ``conf/product/jobs.yaml``; its policy is
``policy.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom import hookimpl
from stillroom.data import DataBundle
from stillroom.errors import StillroomError
from stillroom.policy import Policy
from stillroom.products.jobs.world import DIMENSIONS, generate, member_text, posting_text
from stillroom.synthetic import WorldSize

PRODUCT = "jobs"
SYNTHETIC = "synthetic"


@hookimpl
def stillroom_data_source(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle | None:
    if product != PRODUCT or data_config.get("name") != SYNTHETIC:
        return None
    missing = set(DIMENSIONS) - set(policy.dimension_weights())
    if missing:
        raise StillroomError(
            f"the jobs world scores the dimensions {list(DIMENSIONS)}; the policy lacks {sorted(missing)}", where=policy.source
        )
    return generate(policy, WorldSize.from_config(data_config), int(data_config.get("seed", seed)))


@hookimpl
def stillroom_render_pair(product: str, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> tuple[str, str] | None:
    if product != PRODUCT:
        return None
    return member_text(request), posting_text(candidate)
