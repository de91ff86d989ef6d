"""The jobs product plugin: its synthetic world as a data source, and how its pairs read as text.

Registered through the ``stillroom`` entry-point group (``stillroom.products.jobs.plugin:plugin``),
as a product team's own package would be. Its config is ``conf/product/jobs.yaml``;
its policy is ``policy.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.products.jobs.world import DIMENSIONS, generate, member_text, posting_text
from stillroom.synthetic import SyntheticProduct


def render(member: Mapping[str, Any], posting: Mapping[str, Any]) -> tuple[str, str]:
    return member_text(member), posting_text(posting)


plugin = SyntheticProduct("jobs", DIMENSIONS, generate, render)
