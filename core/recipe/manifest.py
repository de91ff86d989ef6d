"""manifest.json: everything needed to tell what a run was and to trust its files."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from stillroom.artifacts import ArtifactStore
from stillroom.config.secrets import scrub_secrets
from stillroom.files import write_json
from stillroom.policy import Policy

TRACKED_PACKAGES = ("stillroom", "torch", "lightning", "transformers", "peft", "torchmetrics", "hydra-core", "pluggy", "wandb")
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
