"""The run config as one stage sees it: the entries the stage declares, and nothing else.

A stage's fingerprint covers the config entries it declares (``Stage.config_keys``); an entry it read without
declaring would change its result without changing its fingerprint, and a rerun would reuse a stale result. So a
stage reads its config through a :class:`ConfigView`: reading a declared entry (or anything inside one) works as on
a dict, reading anything else stops the run at once naming the stage and the entry, as :class:`StageIO` does for
artifacts. Values come back as copies: what a stage changes in them does not reach the run config or other stages.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from stillroom.errors import BrokenDeclaration


class UndeclaredConfig(BrokenDeclaration):
    """A stage read a config entry its declaration does not name: the contract and the code disagree."""


class ConfigView(Mapping[str, Any]):
    """``config`` restricted to the dotted entries ``declared`` (``"teacher"``, ``"loss.finetune"``) for ``stage``.

    A key inside a declared entry reads as the entry's value (a copy); a key on the way to one (``loss`` when
    ``loss.finetune`` is declared) reads as a narrower view; any other key raises :class:`UndeclaredConfig`. A
    declared entry the config lacks is a ``KeyError``, so ``get`` answers its default as on a dict.
    """

    def __init__(self, config: Mapping[str, Any], declared: tuple[str, ...], stage: str, prefix: str = "") -> None:
        self._config, self._declared, self._stage, self._prefix = config, declared, stage, prefix

    def _reach(self, key: str) -> str | None:
        """``"whole"`` when ``key`` lies in a declared entry, ``"part"`` when a declared entry lies under it."""
        path = self._prefix + str(key)
        if any(path == entry or path.startswith(entry + ".") for entry in self._declared):
            return "whole"
        if any(entry.startswith(path + ".") for entry in self._declared):
            return "part"
        return None

    def __getitem__(self, key: str) -> Any:
        reach = self._reach(key)
        if reach is None:
            raise UndeclaredConfig(
                f"stage {self._stage!r} reads config {self._prefix + str(key)!r}, which it does not declare "
                f"(its config keys: {', '.join(self._declared) or 'none'})"
            )
        value = self._config[key]
        if reach == "part" and isinstance(value, Mapping):
            return ConfigView(value, self._declared, self._stage, f"{self._prefix}{key}.")
        return copy.deepcopy(value)

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._config if self._reach(key) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"ConfigView(stage={self._stage!r}, declared={self._declared!r})"
