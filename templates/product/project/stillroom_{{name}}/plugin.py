"""The product's plugin: each hook stillroom calls for a product, implemented, with when it is called.

stillroom loads this module through the ``stillroom`` entry point in
``pyproject.toml``, exactly as it loads its own products. Every hook answers
only for this product (``PRODUCT``) and returns ``None`` otherwise, so that
products installed side by side never answer for each other.

The hooks a product may add (see stillroom's plugin guide): ``stillroom_losses``
and ``stillroom_evaluators`` (contribute terms and metrics by name),
``stillroom_models`` (model families by name), ``stillroom_load_exported`` and ``stillroom_build_baseline``,
``stillroom_build_loggers`` and the lifecycle hooks ``stillroom_before_run``,
``stillroom_before_stage``, ``stillroom_after_stage`` and ``stillroom_after_run``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stillroom.api import SYNTHETIC, DataBundle, DataSourceSpec, Policy, WorldSize, hookimpl, require_dimensions

from . import PRODUCT
from .world import DIMENSIONS, generate, render


@hookimpl
def stillroom_config_searchpath() -> Sequence[str]:
    """Called once, before Hydra composes the run's config: adds ``conf/`` of this package to the search path,
    so that ``product=NAME`` finds ``conf/product/NAME.yaml`` (and any other group folder you ship there)."""
    return [f"pkg://{__package__}.conf"]


def read_world(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle:
    """Called by the prepare stage for ``data=synthetic``: the golden splits, the unlabeled pool and the engagement log.

    It must honour the sizes in its config (``data.world``): ``experiment=smoke`` shrinks a run through them.
    """
    require_dimensions(policy, DIMENSIONS, PRODUCT)  # the world scores its dimensions; the policy must weigh the same ones
    return generate(policy, WorldSize.from_config(data_config), int(data_config.get("seed", seed)))


@hookimpl
def stillroom_data_sources() -> Sequence[DataSourceSpec]:
    """Called when a run starts: the data sources this product contributes, by name.

    This product's synthetic world is ``data=synthetic`` (the default) for this product only; the built-in file
    sources (``data=jsonl``, ``data=beir``, ``data=interactions``) serve any product, with this product's policy.
    """
    return [DataSourceSpec(SYNTHETIC, read_world, products=(PRODUCT,), description=f"the {PRODUCT} product's synthetic world")]


@hookimpl
def stillroom_render_pair(product: str, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> tuple[str, str] | None:
    """Called for the policy's precedents: how a request's and a candidate's fields read as text to the models.

    It must read them exactly as the data source writes ``request_text`` and
    ``candidate_text``, or the policy gate asks the teacher about texts it never saw.
    """
    return render(request, candidate) if product == PRODUCT else None
