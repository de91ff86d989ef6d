"""``stillroom new product NAME --out DIR``: a product plugin package, rendered from ``templates/product`` by copier.

The package it makes is what a product team would otherwise write by hand:
a pyproject with the ``stillroom`` entry point, the plugin module with each
product hook, its Hydra configs (shipped in the package, added to the search
path by the plugin), a starter policy, a small synthetic world and tests.
Nothing is half-written: the template renders into a temporary folder beside
the target, which is renamed into place only once it is complete.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from stillroom import __version__
from stillroom.errors import StillroomError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
PACKAGE_PREFIX = "stillroom-"


def check_product_name(name: str, existing: list[str]) -> None:
    """A new product's name becomes a package, an entry point and ``product=NAME``: a lower-case identifier no product has."""
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise StillroomError(f"expected a lower-case Python identifier (letters, digits, underscores), got {name!r}", where="NAME")
    if name in existing:
        raise StillroomError(f"a product named {name!r} exists already; products: {', '.join(existing)}", where="NAME")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_product(name: str, out: Path, existing: list[str]) -> tuple[Path, list[Path]]:
    """Render the product template into ``out/stillroom-NAME``; that folder, and the files made in it (relative to it)."""
    import copier  # only this command needs it

    check_product_name(name, existing)
    target = out / f"{PACKAGE_PREFIX}{name}"
    if target.exists():
        raise StillroomError("exists already; stillroom new never overwrites: choose another --out or remove it", where=str(target))
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{PACKAGE_PREFIX}{name}-", dir=out))
    try:
        with resources.as_file(resources.files("stillroom.templates").joinpath("product")) as template:
            copier.run_copy(
                str(template),
                str(staging),
                data={"name": name, "stillroom_version": __version__},
                defaults=True,
                unsafe=False,  # a template may not run tasks or load extensions
                quiet=True,
                vcs_ref=None,
            )
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the package is an ordinary folder
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, sorted(path.relative_to(target) for path in target.rglob("*") if path.is_file())
