"""Files a config names: a plain path, or ``package.module:file`` for one shipped inside a package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from stillroom.errors import StillroomError


def resolve_file(spec: str, where: str) -> Path:
    """The file ``spec`` names; ``where`` is the config setting that named it, for the error."""
    if ":" in spec and not Path(spec).exists():
        package, _, name = spec.partition(":")
        try:
            path = Path(str(resources.files(package).joinpath(name)))
        except (ModuleNotFoundError, ValueError, TypeError):
            message = f"expected a file path or package.module:file, and {package!r} is not an installed package"
            raise StillroomError(message, where=f"{where} ({spec})") from None
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise StillroomError("file does not exist", where=f"{where} ({path})")
    return path
