"""Structured pruning of a BERT-style encoder: whole attention heads and whole layers, by importance.

Importance is measured on the distillation objective itself, as in Michel et
al. (2019), "Are Sixteen Heads Really Better than One?": each head's output is
multiplied by a gate fixed at 1, and the head's importance is the size of the
loss's gradient with respect to its gate. A layer's importance is how much the
loss rises when the layer is skipped. The least important are then cut out of
the weight matrices, so the pruned model is smaller and faster, not masked.

A plan (``{"layers": [...], "heads": {layer: [...]}}``, indices in the model
as it was) is what gets recorded, so the same structure can be rebuilt before
saved weights are loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

PrunePlan = dict[str, Any]


def _layers(encoder: torch.nn.Module) -> torch.nn.ModuleList:
    return encoder.encoder.layer


def heads_of(layer: torch.nn.Module) -> int:
    attention = layer.attention.self
    return attention.query.out_features // attention.attention_head_size


def head_rows(heads: Sequence[int], size: int) -> torch.Tensor:
    """The rows (of query, key and value; columns of the output projection) that hold ``heads``, in order."""
    return torch.cat([torch.arange(h * size, (h + 1) * size) for h in sorted(heads)])


def heads_by_weight(values: torch.Tensor, outputs: torch.Tensor, size: int, count: int) -> list[int]:
    """The ``count`` heads whose value rows and output columns have the largest norm product: importance without data."""
    heads = values.shape[0] // size
    norms = torch.stack([values[h * size : (h + 1) * size].norm() * outputs[:, h * size : (h + 1) * size].norm() for h in range(heads)])
    return sorted(norms.topk(count).indices.tolist())


def strongest_heads(layer: torch.nn.Module, count: int) -> list[int]:
    """The ``count`` strongest heads of a layer by :func:`heads_by_weight`."""
    attention = layer.attention.self
    return heads_by_weight(attention.value.weight, layer.attention.output.dense.weight, attention.attention_head_size, count)


def head_importance(encoder: torch.nn.Module, loss_of: Callable[[], torch.Tensor]) -> list[torch.Tensor]:
    """|d loss / d gate| for every head of every layer (gates on the heads' outputs, all 1)."""
    gates = [torch.ones(heads_of(layer), requires_grad=True) for layer in _layers(encoder)]
    handles = []
    for layer, gate in zip(_layers(encoder), gates, strict=True):
        size = layer.attention.self.attention_head_size

        def gated(module: torch.nn.Module, args: Any, output: Any, gate: torch.Tensor = gate, size: int = size) -> Any:
            context, *rest = output
            return (context * gate.repeat_interleave(size).to(context.dtype), *rest)

        handles.append(layer.attention.self.register_forward_hook(gated))
    try:
        loss_of().backward()
    finally:
        for handle in handles:
            handle.remove()
    return [gate.grad.abs().detach() for gate in gates]


def layer_importance(encoder: torch.nn.Module, loss_of: Callable[[], torch.Tensor]) -> list[float]:
    """How much the loss rises when each layer is skipped (its input passed straight through)."""
    with torch.no_grad():
        base = float(loss_of())
        rises = []
        for layer in _layers(encoder):
            handle = layer.register_forward_hook(lambda module, args, output: args[0])
            try:
                rises.append(float(loss_of()) - base)
            finally:
                handle.remove()
    return rises


def keep_heads(layer: torch.nn.Module, keep: Sequence[int]) -> None:
    """Cut every head but ``keep`` out of the layer's query, key, value and output projections."""
    attention, output = layer.attention.self, layer.attention.output
    rows = head_rows(keep, attention.attention_head_size)
    for name in ("query", "key", "value"):
        old = getattr(attention, name)
        new = torch.nn.Linear(old.in_features, len(rows), bias=old.bias is not None)
        with torch.no_grad():
            new.weight.copy_(old.weight[rows])
            if old.bias is not None:
                new.bias.copy_(old.bias[rows])
        setattr(attention, name, new)
    old = output.dense
    new = torch.nn.Linear(len(rows), old.out_features, bias=old.bias is not None)
    with torch.no_grad():
        new.weight.copy_(old.weight[:, rows])
        if old.bias is not None:
            new.bias.copy_(old.bias)
    output.dense = new
    attention.num_attention_heads = len(keep)
    attention.all_head_size = len(rows)


def apply_plan(encoder: torch.nn.Module, plan: Mapping[str, Any]) -> None:
    """Rebuild a plan's structure: keep its layers (renumbered in order), then its heads in each."""
    layers = _layers(encoder)
    kept_layers = [int(i) for i in plan["layers"]]
    encoder.encoder.layer = torch.nn.ModuleList([layers[i] for i in kept_layers])
    encoder.config.num_hidden_layers = len(kept_layers)
    for position, original in enumerate(kept_layers):
        heads = plan["heads"].get(str(original))
        if heads is not None and len(heads) < heads_of(encoder.encoder.layer[position]):
            keep_heads(encoder.encoder.layer[position], [int(h) for h in heads])


def plan_pruning(
    encoder: torch.nn.Module, keep_layers: int | None, keep_heads_per_layer: int | None, loss_of: Callable[[], torch.Tensor]
) -> PrunePlan:
    """Choose the most important layers and, in each, the most important heads."""
    count = len(_layers(encoder))
    kept = list(range(count))
    if keep_layers is not None and keep_layers < count:
        rises = layer_importance(encoder, loss_of)
        kept = sorted(sorted(range(count), key=lambda i: -rises[i])[:keep_layers])
    importance = head_importance(encoder, loss_of)
    heads = {}
    for layer in kept:
        scores = importance[layer]
        n = len(scores) if keep_heads_per_layer is None else min(keep_heads_per_layer, len(scores))
        heads[str(layer)] = sorted(scores.topk(n).indices.tolist())
    return {"layers": kept, "heads": heads, "head_importance": [s.tolist() for s in importance]}


def positional_heads(plan: Mapping[str, Any]) -> dict[str, list[int]]:
    """The kept heads by the layers' new positions: what a saved, already layer-pruned encoder needs."""
    return {str(position): list(plan["heads"][str(original)]) for position, original in enumerate(plan["layers"])}
