"""What the engine needs from a model, whatever its family.

A ranker scores (request, candidate) pairs over the policy's label scale: its
forward pass returns one logit per label. Plugins build rankers through
``stillroom_build_model``; the engine trains, saves, scores and exports them
through this interface alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from safetensors.torch import load_file

from stillroom.errors import StillroomError

WEIGHTS_FILE = "trainable.safetensors"


@runtime_checkable
class Ranker(Protocol):
    """A ``torch.nn.Module`` that maps tokenized pairs to label logits."""

    num_labels: int

    def tokenize(self, requests: Sequence[str], candidates: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize a batch of pairs into the features ``forward`` takes."""

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``[batch, num_labels]``."""

    def save_pretrained(self, directory: Path) -> None:
        """Write a self-contained folder (weights as safetensors, config, tokenizer)."""


@dataclass(frozen=True)
class BuildContext:
    """What a model builder may need beyond its own config."""

    num_labels: int
    teacher: Ranker | None = None
    """For a student: the trained teacher to initialise from, or ``None`` when weights will be loaded."""


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes: all of them, or only the adapter and head under LoRA."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    """Load a saved :func:`trainable_state` into a freshly built model of the same config."""
    state = load_file(str(path))
    missing = set(state) - {name for name, _ in model.named_parameters()}
    if missing:
        raise StillroomError(
            f"saved weights do not fit the model built from the config (unknown: {sorted(missing)[:3]}); "
            "did the model config change since they were trained?",
            where=str(path),
        )
    model.load_state_dict(state, strict=False)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.inference_mode()
def label_probabilities(ranker: Ranker, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Softmax over the label scale: the soft labels a teacher hands to a student."""
    return torch.softmax(ranker(**features).float(), dim=-1)


def expected_grade(probs: torch.Tensor) -> torch.Tensor:
    """Expected label divided by the top label: a ranking score in (0, 1)."""
    grades = torch.arange(probs.shape[-1], dtype=probs.dtype, device=probs.device)
    return (probs * grades).sum(-1) / (probs.shape[-1] - 1)
