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

from stillroom.compat.transformers import drop_recording_hooks, register_recording


class SpawnSafe:
    """Mixed into a ``torch.nn.Module`` that holds transformers models: it pickles, and works where it is unpickled."""

    def __getstate__(self) -> dict[str, Any]:
        drop_recording_hooks(self)  # type: ignore[arg-type]
        return super().__getstate__()  # type: ignore[misc]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)  # type: ignore[misc]
        register_recording(self)  # type: ignore[arg-type]
