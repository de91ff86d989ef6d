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
from safetensors import SafetensorError
from safetensors.torch import load_file

from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.policy import Policy

WEIGHTS_FILE = "weights.safetensors"
PRUNING_FILE = "pruning.json"
"""Beside the weights of a pruned model: the plan that gives a freshly built model the pruned structure."""


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

    # Optional: ``for_inference() -> Ranker`` returns an eval-mode ranker that scores
    # the same but faster (a LoRA adapter merged into its weights, say). The engine
    # calls it, when present, on every trained model it loads for scoring.
    #
    # Optional: ``forward_with_hidden(**features) -> (logits, hidden)`` also returns
    # the pooled ``[batch, width]`` representation the logits are read from. A
    # labeler that has it records it beside its soft labels, and a student that
    # has it can learn the teacher's representation (the ``hidden_mse`` loss).
    #
    # Optional: ``prune(keep_layers, keep_heads, loss_of) -> plan`` removes the least
    # important layers and attention heads in place, by ``loss_of()``'s gradient,
    # and ``apply_pruning(plan)`` gives a freshly built model the same structure
    # (so that pruned weights load). The ``prune`` stage needs both.
    #
    # Optional: ``for_export() -> torch.nn.Module`` returns a module that scores the same
    # from ``forward(**features)`` alone, keeping nothing between calls (no cache, no
    # per-text bookkeeping in Python), so that ``torch.export`` can trace it to ONNX.
    # Without it the inference form is exported as it is.
    #
    # Optional: ``caches_candidates = True`` says that in eval mode the model keeps
    # each candidate's encoding after first use (a two-tower model), so its measured
    # throughput is that of ranking with a candidate index built offline.


def for_inference(model: Ranker) -> Ranker:
    """The model's inference form (see :class:`Ranker`), in eval mode."""
    prepare = getattr(model, "for_inference", None)
    return (prepare() if callable(prepare) else model).eval()


def export_form(model: Ranker) -> torch.nn.Module:
    """What ONNX export traces: the model's ``for_export()`` form (see :class:`Ranker`), else its inference form; in eval mode."""
    model = for_inference(model)
    prepare = getattr(model, "for_export", None)
    return (prepare() if callable(prepare) else model).eval()


@dataclass(frozen=True)
class BuildContext:
    """What a model builder may need beyond its own config."""

    num_labels: int
    teacher: Ranker | None = None
    """For a student: the trained teacher to initialise from, or ``None`` when weights will be loaded."""
    label_names: tuple[str, ...] = ()
    """The policy's label names, in label order, for models that carry them (an exported config's id2label)."""
    policy: Policy | None = None
    """The run's policy, for models that read it (a judge whose prompt quotes the prose)."""
    precedents: tuple[Pair, ...] = ()
    """The policy's precedents rendered as labeled pairs, for a judge whose prompt quotes them."""

    def id2label(self) -> dict[int, str]:
        names = self.label_names or tuple(f"LABEL_{i}" for i in range(self.num_labels))
        return dict(enumerate(names))


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight of a trained ranker, frozen ones included.

    Frozen weights are saved too: some (a student's embeddings projected from its
    teacher) cannot be rebuilt from the config alone.
    """
    return {name: t.detach().contiguous() for name, t in model.state_dict().items()}


def load_model_state(model: torch.nn.Module, path: Path) -> None:
    """Load a saved :func:`model_state` into a freshly built model of the same config."""
    try:
        state = load_file(str(path))
    except SafetensorError as exc:
        raise StillroomError(f"not a safetensors file of weights ({exc}); it is not loaded", where=str(path)) from None
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise StillroomError(
            f"saved weights do not fit the model built from the config "
            f"(missing {result.missing_keys[:2]}, unexpected {result.unexpected_keys[:2]}); "
            "did the model config change since they were trained?",
            where=str(path),
        )


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_grade(probs: torch.Tensor) -> torch.Tensor:
    """Expected label divided by the top label: a ranking score in (0, 1)."""
    grades = torch.arange(probs.shape[-1], dtype=probs.dtype, device=probs.device)
    return (probs * grades).sum(-1) / (probs.shape[-1] - 1)
