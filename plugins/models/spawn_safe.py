"""transformers models sent to a spawned process (``trainer=ddp_gpu``, ``fsdp``): they pickle, and record their hidden states there.

Two pieces of a transformers model's state live outside its weights. On its
first forward pass it hooks its layers to record hidden states, with hooks
that are closures and do not pickle; and when it is built it registers what
it can record in a registry of its process, which a spawned worker, where
the model is unpickled rather than built, lacks: there the model would
return no hidden states, silently. The rankers that hold transformers models
drop the hooks before pickling (the next forward pass installs them again)
and register their models when unpickled.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedModel

RECORDING_HOOK = "output_capturing_hook"
"""The name of transformers' hidden-state recording hook (``transformers.utils.output_capturing``)."""


def without_recording_hooks(module: torch.nn.Module) -> None:
    """Remove the recording hooks from ``module``'s transformers models and mark them unhooked, so that they pickle."""
    for sub in module.modules():
        for key, hook in list(sub._forward_hooks.items()):
            if getattr(hook, "__qualname__", "").endswith(RECORDING_HOOK):
                del sub._forward_hooks[key]
        if getattr(sub, "_output_capturing_hooks_installed", False):
            sub._output_capturing_hooks_installed = False


def register_recorded_outputs(module: torch.nn.Module) -> None:
    """Register every transformers model in ``module`` in this process's registry, as building it would have."""
    try:
        from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY
    except ImportError:  # transformers before the registry: nothing to register
        return
    for sub in module.modules():
        if isinstance(sub, PreTrainedModel):
            _CAN_RECORD_REGISTRY[sub] = sub._can_record_outputs


class SpawnSafe:
    """Mixed into a ``torch.nn.Module`` that holds transformers models: it pickles, and works where it is unpickled."""

    def __getstate__(self) -> dict[str, Any]:
        without_recording_hooks(self)  # type: ignore[arg-type]
        return super().__getstate__()  # type: ignore[misc]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        register_recorded_outputs(self)  # type: ignore[arg-type]
