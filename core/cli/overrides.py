"""The overrides of ``stillroom run``, checked before Hydra runs them, so a mistake there is a user error.

Hydra reports a typo in an override, a config group option that does not
exist or a key that is not in the config with its own multi-line message and
exit status 1, after the job has begun. Here the same overrides are parsed and
composed first (each job's, in a multirun) and a mistake is answered like any
other bad input: one line and exit status 2.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from stillroom.compat.hydra import split_sweep
from stillroom.config.products import PRODUCT_GROUP
from stillroom.config.schema import listed_loss_terms
from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugin_manager import Plugins

CONFIG_MODULE = "stillroom.conf"
CONFIG_NAME = "config"
_MISSING_OPTION = re.compile(r"Could not find '(?P<group>[\w/]+)/(?P<name>[^']+)'")
_MISSING_KEY = re.compile(r"Could not override '(?P<key>[^']+)'")
_LISTED_LOSS = re.compile(r"Error merging override loss\.(?P<stage>\w+)=\[")
_OTHER_CONFIG_FLAGS = ("--config-name", "-cn", "--config-path", "-cp", "--config-dir", "-cd")


def _first_lines(error: BaseException) -> str:
    """Hydra's explanation in one line: its first sentence and, when short, the hint after it."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    hint = lines[1] if len(lines) > 1 and not lines[1].startswith(("See https", "Available", "Config search path")) else ""
    return " ".join(filter(None, [lines[0] if lines else type(error).__name__, hint]))


def _missing_option(error: MissingConfigException, plugins: Plugins) -> StillroomError:
    """``teacher=nope``: name the group's options; for a product, also the plugins that failed to load
    (the usual reason a team's product is missing)."""
    found = _MISSING_OPTION.search(str(error))
    if not found:
        return StillroomError(_first_lines(error), where="command line")
    group, name = found["group"], found["name"]
    options = ", ".join(error.options or []) or "none"
    if group != PRODUCT_GROUP:
        near = did_you_mean(name, error.options or [])
        return StillroomError(f"no option {name!r} in config group {group!r}{near}; options: {options}", where=group)
    broken = ", ".join(f.name for f in plugins.failed)
    failed = f" (plugins that failed to load: {broken}; see `stillroom plugins`)" if broken else ""
    return StillroomError(f"no product named {name!r}{did_you_mean(name, error.options or [])}; products: {options}{failed}", where=group)


def _missing_key(key: str, job: list[str]) -> StillroomError | None:
    """``teacher.trian.epochs=3``: the first part of the key the config lacks, what it may have meant among the keys
    that are there, and those keys (never Hydra's ``+key`` hint: a typo is not a new key)."""
    others = [o for o in job if o.split("=")[0].lstrip("+~") != key]
    try:
        node = compose(config_name=CONFIG_NAME, overrides=others)
    except (HydraException, OmegaConfBaseException):
        return None
    parts, depth = key.split("."), 0
    while depth < len(parts) and hasattr(node, "keys") and parts[depth] in node:
        node, depth = node[parts[depth]], depth + 1
    if depth == len(parts):
        return None
    part = parts[depth]
    parent = ".".join(parts[:depth]) or "the config"
    keys = sorted(str(name) for name in node.keys()) if hasattr(node, "keys") else []
    said = f"{parent!r} has no key {part!r}" if depth else f"the config has no key {part!r}"
    listed = f"; its keys: {', '.join(keys)}" if keys else ""
    return StillroomError(f"no config key {key!r}: {said}{did_you_mean(part, keys)}{listed}", where="command line")


def _compose(job: list[str]) -> None:
    """Compose one job's config; a key the config lacks is answered with :func:`_missing_key` (Hydra composing)."""
    try:
        compose(config_name=CONFIG_NAME, overrides=job)
    except MissingConfigException:
        raise
    except HydraException as error:
        missing = _MISSING_KEY.search(str(error))
        typo = _missing_key(missing["key"], job) if missing else None
        if typo is None:
            raise
        raise typo from None


def _jobs(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Each job's overrides: one job, or the multirun's jobs as Hydra's basic sweeper splits them."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    if not multirun:
        return [overrides]
    try:
        return split_sweep(parsed)
    except HydraException:  # sweeps a search sweeper reads (interval, tag): check what does not sweep
        return [[o.input_line for o in parsed if not o.is_sweep_override()]]


def check_overrides(plugins: Plugins, args: Sequence[str]) -> None:
    """Compose the config of every job ``args`` (``stillroom run``'s arguments) would run; raise on the first mistake."""
    if any(arg.split("=")[0] in _OTHER_CONFIG_FLAGS for arg in args):
        return  # another primary config: Hydra's to read
    multirun = any(arg in ("-m", "--multirun") for arg in args)
    overrides = [arg for arg in args if "=" in arg and not arg.startswith("-")]
    try:
        jobs = _jobs(overrides, multirun)
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            for job in jobs:
                _compose(job)
    except MissingConfigException as error:
        raise _missing_option(error, plugins) from None
    except (HydraException, OmegaConfBaseException) as error:
        if listed := _LISTED_LOSS.search(str(error)):
            raise listed_loss_terms(listed["stage"], where="command line") from None
        raise StillroomError(_first_lines(error), where="command line") from None
