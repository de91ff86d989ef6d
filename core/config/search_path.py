"""The config folders plugins ship join Hydra's search path through Hydra's own search-path plugin mechanism.

A plugin names its folders with ``stillroom_config_searchpath`` (``pkg://my_pkg.conf``).
:class:`PluginConfigs` is a Hydra ``SearchPathPlugin``: Hydra asks it before
composing any config (``stillroom run``, ``--cfg job``, ``--info``, a multirun's
jobs, the compose API in tests), so the command line is never rewritten.
:func:`register` hands it to Hydra once per process.
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.plugins import Plugins as HydraPlugins
from hydra.plugins.search_path_plugin import SearchPathPlugin

from stillroom.config.products import plugin_config_entries
from stillroom.plugin_manager import get_plugin_manager

PROVIDER = "stillroom-plugin"


class PluginConfigs(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for entry in plugin_config_entries(get_plugin_manager()):
            search_path.append(provider=PROVIDER, path=entry)


def register() -> None:
    """Let Hydra find the plugins' config folders (``Plugins.register``, Hydra's way to add a plugin by hand)."""
    HydraPlugins.instance().register(PluginConfigs)
