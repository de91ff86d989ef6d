"""``stillroom policy check FILE`` and ``stillroom policy diff OLD NEW``.

A policy is reviewed like code: ``check`` is its linter (exit 0 when valid, 2
with the file, the line and what was expected otherwise), ``diff`` is its
review diff.
"""

from __future__ import annotations

from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy import Policy
from stillroom.policy.diff import diff_policies
from stillroom.policy.source import load_policy


def describe_policy(policy: Policy) -> list[str]:
    """The summary ``policy check`` prints: identity, then every label, dimension, rule and precedent."""
    lines = [
        f"{policy.source}: valid",
        f"product: {policy.product}",
        f"version: {policy.version}",
        f"sha256: {policy.sha256}",
        f"labels ({len(policy.labels)}, relevant from {policy.relevant_label}):",
        *(f"  {label.value} {label.name}: {label.description}" for label in policy.labels),
        f"dimensions ({len(policy.dimensions)}):",
        *(f"  {d.name} (weight {d.weight:g}): {d.description}" for d in policy.dimensions),
        f"rules ({len(policy.rules)}" + ("" if policy.max_violation_rate is None else f"; max_violation_rate {policy.max_violation_rate:g}") + "):",
        *(f"  {rule.id} (max label {rule.max_label}): {rule.condition}" for rule in policy.rules),
        f"precedents ({len(policy.precedents)}):",
        *(f"  [{i}] label {p.label} ({policy.label_name(p.label)}): {p.why}" for i, p in enumerate(policy.precedents)),
        f"prose: {len(policy.body.splitlines())} lines",
    ]
    return lines


def check_command(spec: str) -> int:
    policy = load_policy(spec, get_plugin_manager(), where="policy")
    print("\n".join(describe_policy(policy)))
    return 0


def diff_command(old_spec: str, new_spec: str) -> int:
    plugins = get_plugin_manager()
    old = load_policy(old_spec, plugins, where="old policy")
    new = load_policy(new_spec, plugins, where="new policy")
    print(f"--- {old.source} (version {old.version}, sha256 {old.sha256[:12]})")
    print(f"+++ {new.source} (version {new.version}, sha256 {new.sha256[:12]})")
    changes = diff_policies(old, new)
    print("\n".join(changes) if changes else "no changes to the specification")
    return 0
