"""The written policy: its model, how it is read and checked, its precedents, the gate a labeler must pass, and labels bound to it.

``stillroom.policy`` keeps the names plugins and scripts import from it; they live in :mod:`.model`.
"""

from stillroom.policy.model import (
    RULE_FUNCTIONS,
    RULE_NAMES,
    Dimension,
    HardRule,
    Label,
    Policy,
    Precedent,
    RuleFailed,
    RuleFieldMissing,
)

__all__ = ["RULE_FUNCTIONS", "RULE_NAMES", "Dimension", "HardRule", "Label", "Policy", "Precedent", "RuleFailed", "RuleFieldMissing"]
