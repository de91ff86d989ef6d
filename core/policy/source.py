"""Finding and loading the policy document a product config names."""

from __future__ import annotations

from stillroom.config.resources import resolve_file
from stillroom.errors import StillroomError
from stillroom.plugin_boundary import FirstAnswerHook, instance_of
from stillroom.plugin_manager import Plugins
from stillroom.policy import Policy

LOAD_POLICY: FirstAnswerHook[Policy] = FirstAnswerHook("stillroom_load_policy", instance_of(Policy, "a Policy"))


def load_policy(spec: str, plugins: Plugins, where: str = "product.policy") -> Policy:
    """The validated policy at ``spec`` (a file path, or ``package.module:file.md`` for one a package ships), read by
    whichever plugin reads that kind of file (``stillroom_load_policy``); a plugin's test loads its own this way:
    ``load_policy("stillroom_widgets:policy.md", get_plugin_manager())``. ``where`` names the config key in errors."""
    path = resolve_file(spec, where)
    answer = LOAD_POLICY(plugins, path=path)
    if answer is None:
        raise StillroomError("no plugin reads this kind of policy file (expected Markdown with YAML front matter)", where=str(path))
    return answer.item
