"""manifest.json: everything needed to tell what a run was and to trust its files."""

from __future__ import annotations

import itertools
import platform
import re
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from stillroom.artifacts import ArtifactStore, write_json
from stillroom.policy import Policy

TRACKED_PACKAGES = ("stillroom", "torch", "lightning", "transformers", "peft", "torchmetrics", "hydra-core", "pluggy", "wandb")
_SECRET_WORDS = frozenset({"token", "secret", "password", "apikey", "credentials"})
"""Words of a key that mark a credential: ``hf_token``, ``client_secret``; never ``tokenizer`` or ``max_tokens``."""


def is_secret_key(key: str) -> bool:
    """Whether a config key names a credential, judged by its words (``WANDB_API_KEY``: ``api`` then ``key``)."""
    words = [word for word in re.split(r"[^a-z0-9]+", key.lower()) if word]
    return bool(_SECRET_WORDS.intersection(words)) or any(a == "api" and b == "key" for a, b in itertools.pairwise(words))


def scrub_secrets(obj: Any) -> Any:
    """Replace the values of keys that look like credentials, at any depth."""
    if isinstance(obj, Mapping):
        return {k: ("***" if is_secret_key(str(k)) else scrub_secrets(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_secrets(v) for v in obj]
    return obj


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def write_manifest(store: ArtifactStore, config: Mapping[str, Any], policy: Policy, summaries: Mapping[str, Any]) -> None:
    write_json(
        store.root / "manifest.json",
        {
            "config": scrub_secrets(config),
            "policy": policy.summary(),
            "data_fingerprint": summaries.get("prepare", {}).get("data_fingerprint"),
            "packages": package_versions(),
            "stages": {
                name: {"seconds": s.get("seconds"), "outputs": s.get("outputs", {})} for name, s in summaries.items()
            },
        },
    )
