"""export: the student as a Hugging Face folder (safetensors) with a model card naming its policy."""

from __future__ import annotations

from typing import Any

from stillroom.context import RunContext
from stillroom.model_card import render_model_card
from stillroom.stages import evaluate, gate

NAME = "export"
STUDENT_DIR = "student"


def run(ctx: RunContext) -> dict[str, Any]:
    student = ctx.load_model("student", ctx.config["student"], evaluate.student_stage(ctx.config))
    results = ctx.store.read_json(evaluate.NAME, "models.json")
    gate_result = ctx.store.read_json(gate.NAME, gate.RESULT_FILE)
    with ctx.store.directory(NAME, STUDENT_DIR) as folder:
        student.save_pretrained(folder)
        card = render_model_card(ctx.config, ctx.policy, results, gate_result)
        (folder / "README.md").write_text(card, encoding="utf-8")
    files = sorted(p.name for p in ctx.store.path(NAME, STUDENT_DIR).iterdir())
    return {"folder": str(ctx.store.path(NAME, STUDENT_DIR)), "files": files}
