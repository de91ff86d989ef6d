"""export: the student as a Hugging Face folder (safetensors) with a model card naming its policy, and as ONNX.

With ``export.onnx`` the folder also holds ``model.onnx``, and the stage scores
golden test with it in onnxruntime and with the folder's torch model: a file
whose scores differ by more than ``export.onnx_tolerance`` does not ship. It
runs after the compliance check, whose result the model card states: with
``compliance.mode=fail`` (the default) a student that fails the check is not
exported, and the folder is not written.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillroom.errors import StillroomError
from stillroom.evaluation.model_card import Evaluated, render_model_card
from stillroom.evaluation.verdict import export_withheld
from stillroom.ranker import Ranker, model_spec
from stillroom.serving.onnx import ONNX_FILE, export_onnx
from stillroom.serving.score import score_parity
from stillroom.stages.context import BUILDS_MODELS, RunContext
from stillroom.stages.contracts import Artifact, Stage, data_split, reads_model

NAME = "export"
SHIPPED_MODEL = "student"
STUDENT = Artifact("export.student", "student", optional=True)
"""The folder to ship: weights, tokenizer, model card and, with ``export.onnx``, ``model.onnx``; not written when the
compliance check withholds the student."""
EVALUATION, GATE, COMPARISONS = "evaluation.models", "gate.result", "evaluation.comparisons"
COMPLIANCE = "compliance.result"
"""The compliance check's result: whether the student may be exported, and what its model card says."""


def declare(config: Mapping[str, Any]) -> list[Stage]:
    return [
        Stage(
            NAME,
            run,
            (*BUILDS_MODELS, "student", "teacher.name", "evaluator.k", "export", "serving.hard_rules"),
            reads=(*reads_model(SHIPPED_MODEL), EVALUATION, COMPARISONS, GATE, COMPLIANCE, data_split("test")),
            writes=(STUDENT,),
        )
    ]


def run(ctx: RunContext) -> dict[str, Any]:
    evaluated = Evaluated(ctx.io.read_json(EVALUATION), ctx.io.read_json(COMPARISONS), ctx.io.read_json(GATE), ctx.io.read_json(COMPLIANCE))
    if export_withheld(evaluated.compliance):
        print("[stillroom] export: the student failed the compliance check and is withheld (compliance.mode=fail)")
        return {"folder": None, "withheld": evaluated.compliance["reason"]}
    student = ctx.load_model(SHIPPED_MODEL)
    architecture = model_spec(ctx.models(), SHIPPED_MODEL, ctx.config[SHIPPED_MODEL])
    onnx = None
    with ctx.io.folder(STUDENT) as folder:
        student.save_pretrained(folder)
        card = render_model_card(ctx.config, ctx.policy, architecture, evaluated)
        (folder / "README.md").write_text(card, encoding="utf-8")
        if ctx.config["export"]["onnx"]:
            onnx = _export_onnx(ctx, student, folder)
    exported = ctx.io.output_path(STUDENT)
    return {"folder": str(exported), "files": sorted(p.name for p in exported.iterdir()), "onnx": onnx}


def _export_onnx(ctx: RunContext, student: Ranker, folder: Path) -> dict[str, Any]:
    """Write ``model.onnx`` beside the torch model and compare the two on golden test, both loaded from the folder."""
    started = time.perf_counter()
    inputs = export_onnx(student, folder / ONNX_FILE)
    test = ctx.pairs("test")
    parity = score_parity(folder, [p.request_text for p in test], [p.candidate_text for p in test], ctx.plugins)
    tolerance = ctx.config["export"]["onnx_tolerance"]
    if not parity["max_abs_score_diff"] <= tolerance:  # NaN scores fail too
        raise StillroomError(
            f"the ONNX student's scores differ from torch's by up to {parity['max_abs_score_diff']:.2e} on golden test "
            f"(tolerance {tolerance:.0e}); nothing was exported",
            where="export.onnx_tolerance",
        )
    return {"file": ONNX_FILE, "inputs": inputs, "tolerance": tolerance, **parity, "seconds": round(time.perf_counter() - started, 2)}
