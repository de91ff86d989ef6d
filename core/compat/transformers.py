"""transformers internals: the hooks and the registry behind a model's recorded hidden states."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

RECORDING_HOOK = "output_capturing_hook"
"""The name of transformers' hidden-state recording hook (``transformers.utils.output_capturing``)."""


def drop_recording_hooks(module: torch.nn.Module) -> None:
    """Remove the hidden-state recording hooks from ``module``'s transformers models (closures, which do not pickle)
    and mark them unhooked, so that the next forward pass installs them again."""
    for sub in module.modules():
        for key, hook in list(sub._forward_hooks.items()):
            if getattr(hook, "__qualname__", "").endswith(RECORDING_HOOK):
                del sub._forward_hooks[key]
        if getattr(sub, "_output_capturing_hooks_installed", False):
            sub._output_capturing_hooks_installed = False


def register_recording(module: torch.nn.Module) -> None:
    """Register every transformers model in ``module`` in this process's registry of what it can record, as building
    it would have (a model unpickled in a spawned worker was never built there)."""
    try:
        from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY
    except ImportError:  # transformers before the registry: nothing to register
        return
    for sub in module.modules():
        if isinstance(sub, PreTrainedModel):
            _CAN_RECORD_REGISTRY[sub] = sub._can_record_outputs
