"""What a frozen encoder says of a text, kept on disk: encoded once, read back by every later stage and run.

A frozen encoder (a bi-encoder's base, the ``zero_shot`` and ``teacher_base``
baselines, a similarity prior's base) gives the same mean-pooled vector for
the same tokens every time. A 110M-parameter base on two CPU cores encodes
about ten passages a second, so encoding each text once, not once per stage
and per run, is what makes a bigger teacher affordable there.

Vectors are kept per encoder, under a folder named by a digest of the encoder's
config and weight files (a retrained folder is another encoder) and of how the
vector is read; a vector's key is a digest of the text's token ids (the
truncation included). Each process appends what it encoded as a new shard
file, written atomically, so runs sharing a store never clash; shards are read
at first use. ``STILLROOM_VECTOR_STORE`` names the folder (default
``~/.cache/stillroom/vectors``); ``off`` turns it off.

Timed scoring never reads it: the report's throughput is the model encoding
what it serves (:meth:`stillroom.ranker.ScoresInBulk.bulk_scoring`).
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STORE_VARIABLE = "STILLROOM_VECTOR_STORE"
OFF = "off"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
CONFIG_FILES = ("config.json", "tokenizer.json", "vocab.txt")


def store_home() -> Path | None:
    """The folder stores live under, or ``None`` when ``STILLROOM_VECTOR_STORE=off``."""
    setting = os.environ.get(STORE_VARIABLE, "")
    if setting.lower() == OFF:
        return None
    return Path(setting or Path.home() / ".cache" / "stillroom" / "vectors").expanduser()


def encoder_digest(folder: Path) -> str:
    """A digest of an encoder folder's config, tokenizer and weight files: the same for the same weights, wherever they lie."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file() and (p.name in CONFIG_FILES or p.suffix in WEIGHT_SUFFIXES)):
        digest.update(path.name.encode())
        digest.update(_file_digest(str(path), path.stat().st_size, path.stat().st_mtime_ns).encode())
    return digest.hexdigest()


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hashed once per process per version of the file (a 440 MB file takes a second or two)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class VectorStore:
    """Vectors by token-id key, on disk under one folder: :meth:`vectors` fills in what is missing with ``encode``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._known: dict[str, torch.Tensor] | None = None
        self._new: dict[str, torch.Tensor] = {}

    @classmethod
    def for_encoder(cls, encoder_folder: str | Path, reading: str) -> VectorStore | None:
        """The store of the encoder in ``encoder_folder`` read as ``reading`` says (``mean_pooled``), or ``None``
        when stores are off or the folder is not a local one (a cached hub id)."""
        home, folder = store_home(), Path(encoder_folder)
        if home is None or not folder.is_dir():
            return None
        name = hashlib.sha256(f"{encoder_digest(folder)}:{reading}".encode()).hexdigest()[:32]
        return cls(home / name)

    @staticmethod
    def key(token_ids: bytes) -> str:
        return hashlib.sha1(token_ids).hexdigest()  # noqa: S324 - a content key, not a security boundary

    def _loaded(self) -> dict[str, torch.Tensor]:
        if self._known is None:
            self._known = {}
            for shard in sorted(self.folder.glob("*.safetensors")) if self.folder.is_dir() else ():
                self._known.update(load_file(str(shard)))
        return self._known

    def vectors(self, keys: Sequence[bytes], encode: Callable[[list[int]], torch.Tensor]) -> list[torch.Tensor]:
        """The vector of each key, in order; ``encode(rows)`` computes those of the rows no one has stored yet
        (each distinct key once) and they are kept to be :meth:`flush`-ed."""
        known = self._loaded()
        names = [self.key(k) for k in keys]
        missing: dict[str, int] = {}
        for row, name in enumerate(names):
            if name not in known and name not in missing:
                missing[name] = row
        if missing:
            for name, vector in zip(missing, encode(list(missing.values())), strict=True):
                known[name] = self._new[name] = vector.detach().float().cpu().contiguous()
        return [known[name] for name in names]

    def flush(self) -> None:
        """Write what this process encoded as one new shard (atomically: a reader sees all of it or none)."""
        if not self._new:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{uuid.uuid4().hex}.safetensors"
        partial = final.with_suffix(".tmp")
        save_file(self._new, str(partial))
        partial.replace(final)
        self._new = {}
