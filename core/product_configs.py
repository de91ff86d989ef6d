"""The products a run can name: every ``product/NAME.yaml`` on the config search path, stillroom's own and the plugins'.

Hydra finds a product's config the same way (``conf/product`` and each
``stillroom_config_searchpath`` entry); listing them here lets a command name
the products that exist when asked for one that does not, or refuse to scaffold
a product under a name that is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from stillroom.errors import StillroomError
from stillroom.plugin_manager import PluginManager

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


SEARCHPATH_OVERRIDE = "hydra.searchpath"


def plugin_config_entries(plugins: PluginManager) -> list[str]:
    """The search-path entries of the configs plugins ship (``stillroom_config_searchpath``)."""
    return [entry for contributed in plugins.hook.stillroom_config_searchpath() for entry in contributed]


def is_searchpath_override(override: str) -> bool:
    return override.lstrip("+").startswith(f"{SEARCHPATH_OVERRIDE}=")


def searchpath_entries(overrides: Sequence[str]) -> list[str]:
    """The entries a ``hydra.searchpath=[a,b]`` override on the command line names."""
    entries: list[str] = []
    for override in overrides:
        if is_searchpath_override(override):
            entries += [e.strip() for e in override.split("=", 1)[1].strip("[]").split(",") if e.strip()]
    return entries


def known_products(plugins: PluginManager, extra_entries: Sequence[str] = ()) -> list[str]:
    """Sorted product names with a config on the search path: stillroom's, ``extra_entries`` (the command line's), the plugins'."""
    names: set[str] = set()
    for entry in (BUILT_IN_CONFIGS, *extra_entries, *plugin_config_entries(plugins)):
        folder = _folder(entry)
        group = folder.joinpath(PRODUCT_GROUP) if folder is not None else None
        if group is not None and group.is_dir():
            names.update(item.name.removesuffix(".yaml") for item in group.iterdir() if item.name.endswith(".yaml"))
    return sorted(names)


def check_product_overrides(plugins: PluginManager, overrides: Sequence[str]) -> None:
    """``product=NAME`` (or ``product=a,b`` in a multirun) must name products that exist; say which do when one does not.

    Hydra would find out too, but only after composing, with exit status 1 and its search path; this
    answers the way every user error is answered (exit 2), and names the plugins that failed to load,
    the usual reason a team's product is missing.
    """
    for override in overrides:
        key, equals, value = override.partition("=")
        if key.lstrip("+~") != PRODUCT_GROUP or not equals or "(" in value:  # sweep functions such as choice(...) are Hydra's to read
            continue
        known = known_products(plugins, searchpath_entries(overrides))
        for name in (part.strip() for part in value.split(",")):
            if name and name not in known:
                broken = ", ".join(f.name for f in plugins.failed)
                failed = f" (plugins that failed to load: {broken}; see `stillroom plugins`)" if broken else ""
                raise StillroomError(f"no product named {name!r}; products: {', '.join(known)}{failed}", where=PRODUCT_GROUP)
