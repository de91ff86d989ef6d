"""Passing a teacher's weights to a smaller student: projected embeddings, kept layers, pruned neurons."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from stillroom.errors import StillroomError
from stillroom.plugins.models.cross_encoder import HFCrossEncoder, MeanPoolingClassifier, merged


def project_rows(weight: torch.Tensor, width: int) -> torch.Tensor:
    """Rows of ``weight`` projected onto its top ``width`` principal components, at the same scale.

    Where there are fewer components than ``width`` (few rows, or a narrower
    teacher), the remaining columns stay zero.
    """
    centered = weight - weight.mean(0, keepdim=True)
    _, _, v = torch.linalg.svd(centered, full_matrices=False)
    components = min(width, v.shape[0])
    projected = torch.zeros(weight.shape[0], width)
    projected[:, :components] = centered @ v[:components].T
    return projected * (weight.std() / projected.std().clamp_min(1e-8))


def init_embeddings_from(student: HFCrossEncoder, teacher: HFCrossEncoder) -> None:
    """Start a narrower student's embedding tables (word, position, token type) from the teacher's."""
    source = teacher.base_embeddings()
    target = student.base_embeddings()
    width = target.word_embeddings.weight.shape[1]
    with torch.no_grad():
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            src, dst = getattr(source, name).weight, getattr(target, name).weight
            rows = min(src.shape[0], dst.shape[0])
            dst[:rows] = project_rows(src.float(), width)[:rows]


def teacher_layers_state(teacher: HFCrossEncoder, layers: Sequence[int], ffn_width: int) -> dict[str, torch.Tensor]:
    """The teacher encoder's weights for the kept ``layers``, renumbered, each feed-forward pruned.

    A feed-forward neuron's importance is the norm of its input weights times
    the norm of its output weights; the ``ffn_width`` most important are kept.
    """
    if not isinstance(teacher.model, MeanPoolingClassifier):
        raise StillroomError("a pruned-teacher student needs a mean-pooled transformers teacher", where="student.name")
    state = {}
    for key, value in merged(teacher.model).encoder.state_dict().items():
        match = re.match(r"encoder\.layer\.(\d+)\.(.*)", key)
        if match:
            if int(match[1]) not in layers:
                continue
            key = f"encoder.layer.{list(layers).index(int(match[1]))}.{match[2]}"
        state[key] = value.detach().clone()
    for index in range(len(layers)):
        prefix = f"encoder.layer.{index}"
        w_in, b_in = state[f"{prefix}.intermediate.dense.weight"], state[f"{prefix}.intermediate.dense.bias"]
        w_out = state[f"{prefix}.output.dense.weight"]
        keep = (w_in.norm(dim=1) * w_out.norm(dim=0)).topk(ffn_width).indices.sort().values
        state[f"{prefix}.intermediate.dense.weight"], state[f"{prefix}.intermediate.dense.bias"] = w_in[keep], b_in[keep]
        state[f"{prefix}.output.dense.weight"] = w_out[:, keep]
    return state
