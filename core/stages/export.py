"""export: the student as a Hugging Face folder (safetensors) with a model card naming its policy, and as ONNX.

With ``export.onnx`` the folder also holds ``model.onnx``, and the stage scores
golden test with it in onnxruntime and with the folder's torch model: a file
whose scores differ by more than ``export.onnx_tolerance`` does not ship.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from stillroom.context import RunContext
from stillroom.errors import StillroomError
from stillroom.model_card import render_model_card
from stillroom.onnx_export import ONNX_FILE, export_onnx
from stillroom.ranker import Ranker
from stillroom.serving import score_parity
from stillroom.stages import evaluate, gate

NAME = "export"
STUDENT_DIR = "student"


def run(ctx: RunContext) -> dict[str, Any]:
    student = ctx.load_model("student", ctx.config["student"], evaluate.student_stage(ctx.config))
    results = ctx.store.read_json(evaluate.NAME, "models.json")
    gate_result = ctx.store.read_json(gate.NAME, gate.RESULT_FILE)
    onnx = None
    with ctx.store.directory(NAME, STUDENT_DIR) as folder:
        student.save_pretrained(folder)
        card = render_model_card(ctx.config, ctx.policy, results, gate_result)
        (folder / "README.md").write_text(card, encoding="utf-8")
        if ctx.config["export"]["onnx"]:
            onnx = _export_onnx(ctx, student, folder)
    files = sorted(p.name for p in ctx.store.path(NAME, STUDENT_DIR).iterdir())
    return {"folder": str(ctx.store.path(NAME, STUDENT_DIR)), "files": files, "onnx": onnx}


def _export_onnx(ctx: RunContext, student: Ranker, folder: Path) -> dict[str, Any]:
    """Write ``model.onnx`` beside the torch model and compare the two on golden test, both loaded from the folder."""
    started = time.perf_counter()
    inputs = export_onnx(student, folder / ONNX_FILE)
    test = ctx.pairs("test")
    parity = score_parity(folder, [p.request_text for p in test], [p.candidate_text for p in test], ctx.plugins)
    tolerance = float(ctx.config["export"]["onnx_tolerance"])
    if not parity["max_abs_score_diff"] <= tolerance:  # NaN scores fail too
        raise StillroomError(
            f"the ONNX student's scores differ from torch's by up to {parity['max_abs_score_diff']:.2e} on golden test "
            f"(tolerance {tolerance:.0e}); nothing was exported",
            where="export.onnx_tolerance",
        )
    return {"file": ONNX_FILE, "inputs": inputs, "tolerance": tolerance, **parity, "seconds": round(time.perf_counter() - started, 2)}
