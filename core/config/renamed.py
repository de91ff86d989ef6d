"""Config keys that moved, and how their old names keep working for one minor release.

A product config or a script written for an earlier stillroom names keys by their old names. Until
:data:`~stillroom.deprecation.REMOVED_IN`, an old name still works: its value goes to the new key, and a
:class:`~stillroom.errors.StillroomDeprecationWarning` says what to write instead (``stillroom run`` prints it as a
``stillroom: warning:`` line). CHANGELOG.md lists every rename.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omegaconf import DictConfig, open_dict

from stillroom.deprecation import deprecated

RENAMED_KEYS: dict[str, str] = {
    "gate.compliance": "compliance.mode",
    "gate.max_violation_rate": "compliance.max_violation_rate",
}
"""Old dotted name -> new dotted name (0.2.0: the compliance check has its own group)."""
_OVERRIDE = re.compile(r"^(?P<prefix>\+\+|\+|~)?(?P<key>[\w.]+)(?P<rest>=.*)?$")


def _warn(old: str, where: str) -> None:
    deprecated(f"config key {old!r} is now {RENAMED_KEYS[old]!r}", where=where, stacklevel=4)


def renamed_overrides(overrides: Sequence[str]) -> list[str]:
    """The command line's overrides with each old key written by its new name (``gate.compliance=warn`` becomes
    ``compliance.mode=warn``), warning for each."""
    renamed = []
    for override in overrides:
        found = _OVERRIDE.match(override)
        if found and found["key"] in RENAMED_KEYS:
            _warn(found["key"], "command line")
            override = f"{found['prefix'] or ''}{RENAMED_KEYS[found['key']]}{found['rest'] or ''}"
        renamed.append(override)
    return renamed


def move_renamed_keys(cfg: DictConfig) -> None:
    """Each old key a config file set (a product config written for an earlier version) moved to its new name in the
    composed ``cfg``, warning for each: the value it sets is the new key's."""
    for old, new in RENAMED_KEYS.items():
        (old_group, old_key), (new_group, new_key) = old.split("."), new.split(".")
        group = cfg.get(old_group)
        if not isinstance(group, DictConfig) or old_key not in group:
            continue
        _warn(old, "config")
        with open_dict(cfg):
            value = group.pop(old_key)
            if cfg.get(new_group) is None:
                cfg[new_group] = {}
            cfg[new_group][new_key] = value
