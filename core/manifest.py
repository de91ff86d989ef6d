"""manifest.json: everything needed to tell what a run was and to trust its files."""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from stillroom.artifacts import ArtifactStore, write_json
from stillroom.policy import Policy

TRACKED_PACKAGES = ("stillroom", "torch", "lightning", "transformers", "peft", "torchmetrics", "hydra-core", "pluggy", "wandb")
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password)", re.IGNORECASE)


def scrub_secrets(obj: Any) -> Any:
    """Replace the values of keys that look like credentials, at any depth."""
    if isinstance(obj, Mapping):
        return {k: ("***" if _SECRET_KEY.search(str(k)) else scrub_secrets(v)) for k, v in obj.items()}
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
