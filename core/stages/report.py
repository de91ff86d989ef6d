"""report: the last stage, the one comparison every product gets (``report.json``, ``report.md``, the plots).

It reads what the other stages wrote (the evaluation, the gate, the compliance
check, each model's training curves, the exported folder) and writes nothing
they read. See :mod:`stillroom.evaluation.report` for the shape of ``report.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stillroom.evaluation.report import build_report, write_report
from stillroom.serving.onnx import ONNX_FILE
from stillroom.stages.context import RunContext
from stillroom.stages.contracts import EVERY_HISTORY, Artifact, Stage

NAME = "report"
JSON = Artifact("report.figures", "report.json")
"""The figures, in a stable shape (``objective`` is what a sweep optimises)."""
MARKDOWN = Artifact("report.markdown", "report.md")
QUALITY_PLOT = Artifact("report.quality_plot", "quality_vs_throughput.png")
CURVES_PLOT = Artifact("report.curves_plot", "training_curves.png")
EVALUATION, COMPARISONS, SPLIT_SIZES = "evaluation.models", "evaluation.comparisons", "evaluation.splits"
GATE, FIRST_STAGE, EXPORTED, COMPLIANCE = "gate.result", "data.first_stage", "export.student", "compliance.result"
DATA_NOTES = "data.notes"


def declare(config: Mapping[str, Any]) -> list[Stage]:
    return [
        Stage(
            NAME,
            run,
            ("product.name", "seed", "evaluator"),
            reads=(EVALUATION, COMPARISONS, SPLIT_SIZES, GATE, FIRST_STAGE, DATA_NOTES, EVERY_HISTORY, EXPORTED, COMPLIANCE),
            writes=(JSON, MARKDOWN, QUALITY_PLOT, CURVES_PLOT),
        )
    ]


def run(ctx: RunContext) -> dict[str, Any]:
    io = ctx.io
    histories = {model.name: model.history.name for model in ctx.plan.models()}
    curves = {name: io.read_jsonl(history) for name, history in histories.items()}
    splits = io.read_json(SPLIT_SIZES)
    report = build_report(
        ctx.config,
        ctx.policy,
        io.read_json(EVALUATION),
        io.read_json(COMPARISONS),
        splits["requests"],
        {name: str(io.path(history).relative_to(ctx.store.root)) for name, history in histories.items()},
        io.read_json(GATE),
        io.read_json(FIRST_STAGE) if io.has(FIRST_STAGE) else None,
        {"folder": str(io.path(EXPORTED).relative_to(ctx.store.root)), "onnx": (io.path(EXPORTED) / ONNX_FILE).is_file()}
        if io.has(EXPORTED)
        else None,
        io.read_json(COMPLIANCE),
        {split: splits[f"{split}_pairs"] for split in splits["requests"]},
        io.read_json(DATA_NOTES) if io.has(DATA_NOTES) else [],
    )
    write_report(
        report,
        curves,
        json_path=io.output_path(JSON),
        markdown_path=io.output_path(MARKDOWN),
        quality_plot=io.output_path(QUALITY_PLOT),
        curves_plot=io.output_path(CURVES_PLOT),
    )
    return {"objective": report["objective"]}
