"""LoRA adapters through peft, imported only when a config asks for one.

peft takes seconds to import; commands that load the plugins without training
anything (``stillroom policy check``, ``stillroom plugins``) should not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def with_lora(model: torch.nn.Module, lora: Mapping[str, Any], task_type: str | None = None) -> torch.nn.Module:
    """``model`` wrapped by a peft LoRA adapter as ``lora`` (r, alpha, dropout, target_modules, layers, modules_to_save) says."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type=task_type,
        r=int(lora["r"]),
        lora_alpha=int(lora["alpha"]),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=list(lora["target_modules"]),
        layers_to_transform=list(lora["layers"]) if lora.get("layers") is not None else None,
        modules_to_save=list(lora["modules_to_save"]) if lora.get("modules_to_save") else None,
    )
    return get_peft_model(model, config)


def has_adapter(module: torch.nn.Module) -> bool:
    """Whether ``module`` is a peft model whose adapter can be folded into its weights."""
    return callable(getattr(module, "merge_and_unload", None))
