"""Credentials stay out of everything a run saves: configs, the manifest, the report, the tracker's config.

A value is a secret when its key says so (``hf_token``, ``WANDB_API_KEY``) or
when it carries the value of such an environment variable: a config may read
``${oc.env:WANDB_API_KEY}`` under any name. Either way it is saved as ``***``.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from stillroom.files import atomic_path

MASK = "***"
_SECRET_WORDS = frozenset({"token", "secret", "password", "apikey", "credentials"})
"""Words of a key that mark a credential: ``hf_token``, ``client_secret``; never ``tokenizer`` or ``max_tokens``."""
_SHORTEST_SECRET = 8
"""Shorter values of secret-named variables (``1``, ``true``) are flags, not credentials, and too common to mask."""
HYDRA_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")


def is_secret_key(key: str) -> bool:
    """Whether a key names a credential, judged by its words (``WANDB_API_KEY``: ``api`` then ``key``)."""
    words = [word for word in re.split(r"[^a-z0-9]+", key.lower()) if word]
    return bool(_SECRET_WORDS.intersection(words)) or any(a == "api" and b == "key" for a, b in itertools.pairwise(words))


def secret_values(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The values of the environment's credential variables."""
    environ = os.environ if environ is None else environ
    return frozenset(v for k, v in environ.items() if is_secret_key(k) and len(v) >= _SHORTEST_SECRET)


def _scrub_text(text: str, values: frozenset[str]) -> str:
    for value in values:
        text = text.replace(value, MASK)
    return text


def scrub_secrets(obj: Any, values: frozenset[str] | None = None) -> Any:
    """``obj`` with credentials masked, at any depth: under secret-named keys, and wherever a secret value appears."""
    values = secret_values() if values is None else values
    if isinstance(obj, Mapping):
        return {k: (MASK if is_secret_key(str(k)) else scrub_secrets(v, values)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub_secrets(v, values) for v in obj]
    if isinstance(obj, str):
        return _scrub_override(obj, values)
    return obj


def _scrub_override(text: str, values: frozenset[str]) -> str:
    """A string with secret values masked; an override ``KEY=VALUE`` whose key is secret keeps only its key."""
    key, equals, _ = text.partition("=")
    if equals and is_secret_key(key.lstrip("+~")):
        return f"{key}={MASK}"
    return _scrub_text(text, values)


def scrub_hydra_output(folder: Path) -> None:
    """Rewrite Hydra's record of the job (``.hydra/*.yaml``: config, overrides, its own config) without secrets."""
    values = secret_values()
    for name in HYDRA_FILES:
        path = folder / name
        if not path.is_file():
            continue
        original = yaml.safe_load(path.read_text(encoding="utf-8"))
        scrubbed = scrub_secrets(original, values)
        if scrubbed != original:
            with atomic_path(path) as tmp:
                tmp.write_text(yaml.safe_dump(scrubbed, sort_keys=False), encoding="utf-8")
