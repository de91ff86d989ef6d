"""The feed product plugin: its synthetic world as a data source, and how its pairs read as text.

Registered through the ``stillroom`` entry-point group (``stillroom.products.feed.plugin:plugin``),
as a product team's own package would be. Its config is ``conf/product/feed.yaml``;
its policy is ``policy.md`` beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.products.feed.world import DIMENSIONS, generate, member_text, post_text
from stillroom.synthetic import SyntheticProduct


def render(member: Mapping[str, Any], post: Mapping[str, Any]) -> tuple[str, str]:
    return member_text(member), post_text(post)


plugin = SyntheticProduct("feed", DIMENSIONS, generate, render)
