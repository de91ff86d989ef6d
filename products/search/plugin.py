"""The search product plugin: its synthetic world as a data source, and how its pairs read as text.

Registered through the ``stillroom`` entry-point group (``stillroom.products.search.plugin:plugin``),
as a product team's own package would be. Its config is ``conf/product/search.yaml``;
its policy is ``policy.md`` beside this file.
"""

from __future__ import annotations

from stillroom.api import SyntheticProduct
from stillroom.products.search.world import DIMENSIONS, generate, render

plugin = SyntheticProduct("search", DIMENSIONS, generate, render)
