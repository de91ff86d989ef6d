"""Config precedence as Hydra's: the command line beats an experiment, an experiment a product, a product the recipe.

Hydra merges config files in the order of the defaults list: the recipe's groups
(``teacher``, ``loss``, ...), then the product, then the data, then an experiment,
and the command line's values last. A group *choice* made anywhere (``loss=NAME``
on the command line, ``override /teacher: tiny`` in an experiment) replaces the
whole option, but a *value* a product config writes inside a group's package
(``loss: {distill: ...}``) merges after whichever option was chosen and silently
beats it: the product's terms join ``loss=multi_teacher``'s, its epochs outlive
``experiment=smoke``'s tiny teacher. So a product adjusts a recipe group the way
Hydra intends: it ships an option of that group and selects it in its defaults
list (``- override /loss: courses``). A value it writes inside a group that
merged before it is deprecated (0.2.0): it still merges, with a warning naming the file, the key and that
pattern, and stops the run from 0.3.0 on.
Settings outside any group (``gate``, ``labeling``, ``prune``, ``export``) a
product sets directly; an experiment and the command line still beat them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stillroom.compat.hydra import MergedConfig, config_groups, merge_order
from stillroom.deprecation import deprecated

PRODUCT_GROUP = "product"
"""The config group whose options adjust the recipe, and so may choose its other groups' options but not write in them."""
HYDRA_PACKAGE = "hydra"


def check_product_config(config_name: str, overrides: Sequence[str]) -> None:
    """Warn about (from 0.3.0: refuse) a product config that writes values inside a recipe group (see the module's doc).

    Every ``product/`` file the composition merges is checked (a product config may start from another). The
    groups it may not write in are every config group but its own and those that merge after it (``data``): a
    group whose default is null (``judge``) counts, so that the check does not depend on the command line. Asks
    Hydra for the composition's defaults list; outside a Hydra app (a config composed by hand) there is none,
    and nothing is checked.
    """
    order = merge_order(config_name, overrides)
    if order is None:
        return
    products = [item for item in order if item.path.startswith(f"{PRODUCT_GROUP}/")]
    if not products:
        return
    merged_after = {_group(item) for item in order[order.index(products[-1]) + 1 :]}
    recipe_groups = config_groups() - merged_after - {PRODUCT_GROUP, HYDRA_PACKAGE}
    option = products[-1].path.removeprefix(f"{PRODUCT_GROUP}/")
    for product in products:
        for key, nested in _written(product.package, product.values).items():
            if key in recipe_groups:
                deprecated(
                    f"it sets {'.'.join([key, *nested][:2])}, a value inside the {key!r} group, which beats any {key}=NAME the "
                    f"command line or an experiment chooses. Ship it as a {key} option of the product's (conf/{key}/{option}.yaml, "
                    f"starting from the option it adjusts: `defaults: [NAME, _self_]`) and select it in the product's defaults "
                    f"list: `defaults: [{{override /{key}: {option}}}]` (docs/plugins.md#shipping-configs)",
                    where=f"config {product.where}",
                )


def _group(item: MergedConfig) -> str:
    return item.path.split("/")[0]


def _written(package: str, values: Mapping[str, Any]) -> dict[str, list[str]]:
    """The top-level keys a config file writes, each with the path below it to the first value, for the message."""
    if package:
        head, *rest = package.split(".")
        return {head: rest + _first_path(values)}
    return {str(key): _first_path(value) for key, value in values.items() if key != "defaults"}


def _first_path(value: Any) -> list[str]:
    path = []
    while isinstance(value, Mapping) and value:
        key, value = next(iter(value.items()))
        path.append(str(key))
    return path
