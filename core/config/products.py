"""The products a run can name: every ``product/NAME.yaml`` on the config search path, stillroom's own and the plugins'.

Hydra finds a product's config the same way (``conf/product`` and each
``stillroom_config_searchpath`` entry); listing them here lets a command name
the products that exist when asked for one that does not, or refuse to scaffold
a product under a name that is taken.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from stillroom.plugin_boundary import ContributeHook, instance_of
from stillroom.plugin_manager import Plugins

CONFIG_SEARCHPATH: ContributeHook[str] = ContributeHook(
    "stillroom_config_searchpath", instance_of(str, "a string"), "a list of search-path entries (['pkg://my_pkg.conf'])"
)

BUILT_IN_CONFIGS = "pkg://stillroom.conf"
PRODUCT_GROUP = "product"


def _folder(entry: str) -> Traversable | Path | None:
    """The folder a Hydra search-path entry (``pkg://package.module``, ``file://dir`` or a plain path) points at."""
    if entry.startswith("pkg://"):
        package = entry.removeprefix("pkg://").replace("/", ".")
        try:
            return resources.files(package)
        except ModuleNotFoundError:
            return None
    return Path(entry.removeprefix("file://")).expanduser()


def plugin_config_entries(plugins: Plugins) -> list[str]:
    """The search-path entries of the configs plugins ship (``stillroom_config_searchpath``), each a string."""
    return [entry.item for entry in CONFIG_SEARCHPATH(plugins)]


def known_products(plugins: Plugins) -> list[str]:
    """Sorted product names with a config on the search path: stillroom's and the plugins'."""
    names: set[str] = set()
    for entry in (BUILT_IN_CONFIGS, *plugin_config_entries(plugins)):
        folder = _folder(entry)
        group = folder.joinpath(PRODUCT_GROUP) if folder is not None else None
        if group is not None and group.is_dir():
            names.update(item.name.removesuffix(".yaml") for item in group.iterdir() if item.name.endswith(".yaml"))
    return sorted(names)
