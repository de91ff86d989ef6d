"""Finding and loading the policy document a product config names."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from stillroom.errors import StillroomError
from stillroom.plugin_manager import PluginManager
from stillroom.policy import Policy


def resolve_policy_path(spec: str, where: str = "product.policy") -> Path:
    """``package.module:file.md`` (a file shipped in a package) or a plain path; ``where`` names the setting."""
    if ":" in spec and not Path(spec).exists():
        package, _, name = spec.partition(":")
        try:
            path = Path(str(resources.files(package).joinpath(name)))
        except ModuleNotFoundError as exc:
            raise StillroomError(f"package {package!r} is not installed", where=f"{where} ({spec})") from exc
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise StillroomError("policy file does not exist", where=f"{where} ({path})")
    return path


def load_policy(spec: str, plugins: PluginManager, where: str = "product.policy") -> Policy:
    """The validated policy at ``spec``, read by whichever plugin reads that kind of file."""
    path = resolve_policy_path(spec, where)
    policy = plugins.hook.stillroom_load_policy(path=path)
    if policy is None:
        raise StillroomError("no plugin reads this kind of policy file (expected Markdown with YAML front matter)", where=str(path))
    return policy
