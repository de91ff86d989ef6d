"""The jobs product plugin: its synthetic world as a data source, and how its pairs read as text.

Registered through the ``stillroom`` entry-point group (``stillroom.products.jobs.plugin:plugin``),
as a product team's own package would be. Its config is ``conf/product/jobs.yaml``;
its policy is ``policy.md`` beside this file.
"""

from __future__ import annotations

from stillroom.api import SyntheticProduct
from stillroom.products.jobs.world import DIMENSIONS, generate, render

plugin = SyntheticProduct("jobs", DIMENSIONS, generate, render)
