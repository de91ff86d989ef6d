"""The student as ONNX: one file that any ONNX runtime serves, without Python or torch.

torch's exporter (``torch.onnx.export`` with ``dynamo=True``: ``torch.export``
then onnxscript) traces the model's export form
(:func:`stillroom.ranker.export_form`), with every axis of every input
dynamic, so that one file serves any batch size and any text length. The
``export`` stage then checks the file against torch on golden test
(:mod:`stillroom.serving.score`) before it ships.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.export import Dim

from stillroom.errors import StillroomError
from stillroom.features import model_inputs
from stillroom.files import atomic_path
from stillroom.ranker import Ranker, export_form

ONNX_FILE = "model.onnx"
OUTPUT_NAME = "logits"
SAMPLE_REQUESTS = ("a request of a few words", "another request, somewhat longer than the first one")
SAMPLE_CANDIDATES = ("a candidate with a longer text than its request has", "a short candidate")
"""What the trace runs on: two pairs of unequal lengths, so that no batch size or length of 1, or two equal lengths, reads as a constant."""


class _Positional(torch.nn.Module):
    """A ranker's ``forward(**features)`` called with its features in a fixed order: what the exporter's inputs are."""

    def __init__(self, module: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module = module
        self.names = names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.module(**dict(zip(self.names, tensors, strict=True)))


def _reason(error: BaseException) -> str:
    """The first line of the innermost cause, without the exporter's terminal colours."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300] if lines else ''}"


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's notices (operators of packages not installed, its deprecations) are not the user's business."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(ranker: Ranker, path: Path) -> list[str]:
    """Write ``ranker``'s export form to ``path`` as ONNX; return the input names (the keys of its tokenized features,
    and ``pair_features`` for a model that reads them)."""
    features = model_inputs(ranker, list(SAMPLE_REQUESTS), list(SAMPLE_CANDIDATES))
    names = list(features)
    dynamic = tuple(dict.fromkeys(range(features[name].dim()), Dim.AUTO) for name in names)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                _Positional(export_form(ranker), names),
                args=tuple(features[name] for name in names),
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_shapes=(dynamic,),  # one variadic argument: a tuple of the inputs
                dynamo=True,
                verbose=False,
            )
    except Exception as exc:  # torch.export fails in many ways, each a model that cannot be traced as it is
        raise StillroomError(
            f"the student could not be traced to ONNX ({_reason(exc)}); "
            "give its ranker a for_export() form (stillroom.api.Exportable), or set export.onnx=false",
            where="export.onnx",
        ) from exc
    with atomic_path(path) as tmp:
        program.save(str(tmp))
    return names
