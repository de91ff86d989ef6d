"""Scoring with an exported student: the folder ``export`` writes, run by torch or by onnxruntime.

``stillroom score`` and the serving benchmark load a folder without the run
that made it: the plugin whose model saved it recognises it
(``stillroom_load_exported``) and tokenizes for both runtimes, so torch and
onnxruntime see the same features. onnxruntime runs ``model.onnx`` (see
:mod:`stillroom.serving.onnx`); torch runs the ranker as the run evaluated it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from stillroom.errors import StillroomError
from stillroom.evaluation.served import DEMOTE, FILTER, action
from stillroom.features import FIRST_STAGE_SCORE, feature_names, model_inputs, pair_features
from stillroom.files import atomic_path
from stillroom.plugin_manager import Plugins
from stillroom.policy import Policy
from stillroom.ranker import LOAD_EXPORTED, Ranker, expected_grade, for_inference
from stillroom.reading import data_error, field, jsonl_objects
from stillroom.serving.onnx import ONNX_FILE, OUTPUT_NAME

log = logging.getLogger(__name__)
BACKENDS = ("torch", "onnxruntime")
TEXT_FIELDS = ("request_text", "candidate_text")
DEMOTION = 2.0
"""What a demoted row's ``served_score`` loses: scores lie in [0, 1], so it ranks below every listed row."""
FEATURES_FIELD = "features"
"""A row's declared features (name -> number), for a model that reads them: what the feature store gives each pair."""


def load_exported(folder: Path, plugins: Plugins) -> Ranker:
    """The ranker saved in ``folder``, loaded by the plugin whose model wrote it."""
    if not folder.is_dir():
        raise StillroomError("no such folder; expected a model folder that `export` wrote (RUN_DIR/export/student)", where=str(folder))
    answer = LOAD_EXPORTED(plugins, directory=folder)
    if answer is None:
        raise StillroomError(
            "no plugin recognises this folder as a model it saved; expected a folder that `export` wrote (RUN_DIR/export/student)",
            where=str(folder),
        )
    return for_inference(answer.item)


class OnnxSession:
    """``model.onnx`` in onnxruntime, fed the features the ranker's tokenizer makes; on as many threads as torch uses."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        if not path.is_file():
            raise StillroomError(f"no {ONNX_FILE} here; export with export.onnx=true, or score with --backend torch", where=str(path.parent))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [node.name for node in self.session.get_inputs()]

    def __call__(self, **features: torch.Tensor) -> torch.Tensor:
        feed = {name: features[name].cpu().numpy() for name in self.inputs}
        return torch.from_numpy(self.session.run([OUTPUT_NAME], feed)[0])


@dataclass
class ExportedScorer:
    """An exported student ready to score pairs: its tokenizer, and its forward pass in torch or onnxruntime."""

    ranker: Ranker
    backend: str
    forward: Any
    """``forward(**features) -> logits``: the ranker itself, or an :class:`OnnxSession`."""

    @classmethod
    def load(cls, folder: Path, backend: str, plugins: Plugins) -> ExportedScorer:
        """The student exported in ``folder``, run by ``backend`` (``torch``, or ``onnxruntime`` on its ``model.onnx``)."""
        return cls.of(load_exported(folder, plugins), folder, backend)

    @classmethod
    def of(cls, ranker: Ranker, folder: Path, backend: str) -> ExportedScorer:
        """``ranker``, loaded from ``folder``, run by ``backend``: itself, or the folder's ``model.onnx``."""
        if backend not in BACKENDS:
            raise StillroomError(f"expected one of {', '.join(BACKENDS)}, got {backend!r}", where="--backend")
        return cls(ranker, backend, ranker if backend == "torch" else OnnxSession(folder / ONNX_FILE))

    @torch.inference_mode()
    def probs(
        self, requests: Sequence[str], candidates: Sequence[str], batch_size: int = 64, features: Sequence[Mapping[str, float]] | None = None
    ) -> torch.Tensor:
        """Probabilities over the label scale for each pair, in order (``[pairs, labels]``); ``features`` are the pairs'
        (:func:`stillroom.features.pair_features`), for a model that reads them."""
        batches = []
        for start in range(0, len(requests), batch_size):
            end = start + batch_size
            inputs = model_inputs(self.ranker, requests[start:end], candidates[start:end], features[start:end] if features is not None else None)
            batches.append(torch.softmax(self.forward(**inputs).float(), dim=-1))
        return torch.cat(batches) if batches else torch.empty(0, self.ranker.num_labels)


def score_parity(folder: Path, requests: Sequence[str], candidates: Sequence[str], plugins: Plugins) -> dict[str, float]:
    """How far onnxruntime's scores of the pairs are from torch's, both from the exported ``folder``."""
    ranker = load_exported(folder, plugins)
    probs = {backend: ExportedScorer.of(ranker, folder, backend).probs(requests, candidates) for backend in BACKENDS}
    torch_probs, onnx_probs = probs["torch"], probs["onnxruntime"]
    return {
        "pairs": len(requests),
        "max_abs_score_diff": float((expected_grade(torch_probs) - expected_grade(onnx_probs)).abs().max()) if len(requests) else 0.0,
        "max_abs_prob_diff": float((torch_probs - onnx_probs).abs().max()) if len(requests) else 0.0,
    }


def _read_pairs(path: Path) -> Iterator[dict[str, Any]]:
    for line, row in jsonl_objects(path):
        for name in TEXT_FIELDS:
            field(row, name, str, path, line)
        if row.get(FIRST_STAGE_SCORE) is not None:
            field(row, FIRST_STAGE_SCORE, (int, float), path, line)
        for side in ("request", "candidate"):
            if row.get(side) is not None:
                field(row, side, dict, path, line)
        if row.get(FEATURES_FIELD) is not None:
            values = field(row, FEATURES_FIELD, dict, path, line)
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
                raise data_error(path, line, f"expected {FEATURES_FIELD} to map each feature's name to a number, got {values!r:.60}")
        yield row


def _features(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """Each row's features, a request being the rows of one ``request_id`` (else of one ``request_text``)."""
    pairs = [
        SimpleNamespace(
            request_id=str(row.get("request_id", row["request_text"])),
            first_stage_score=row.get(FIRST_STAGE_SCORE),
            features=row.get(FEATURES_FIELD) or {},
        )
        for row in rows
    ]
    return pair_features(pairs)


def served_fields(row: Mapping[str, Any], score: float, policy: Policy) -> dict[str, Any]:
    """What a service applying ``policy``'s hard rules does with a scored row (its ``request`` and ``candidate``
    fields): ``served`` is ``listed``, ``demoted`` or ``filtered`` as its rules say, ``breaks`` the rules it breaks, and
    ``served_score`` what to rank by (below every listed row when demoted, ``None`` when filtered)."""
    broken = policy.rules_broken(row.get("request") or {}, row.get("candidate") or {})
    what = action(broken)
    served_score = None if what == FILTER else score - DEMOTION if what == DEMOTE else score
    return {
        "served": {None: "listed", DEMOTE: "demoted", FILTER: "filtered"}[what],
        "breaks": [rule.id for rule in broken],
        "served_score": served_score,
    }


def score_file(
    model: Path, input_path: Path, output_path: Path, backend: str, plugins: Plugins, batch_size: int = 64, policy: Policy | None = None
) -> int:
    """Score every pair of a JSONL file (``request_text``, ``candidate_text``; ``request_id`` and ``first_stage_score``
    for a model that reads the first stage's score, ``features`` (name -> number) for one that reads the product's
    declared features) into ``output_path``; return how many.

    Each output row is its input row with ``score`` (the expected grade over
    the top grade, what ranking sorts by) and ``probs`` (over the label scale)
    added. The whole input is read and checked before the model loads, and the
    output appears only when every row is scored.
    """
    rows = list(_read_pairs(input_path))
    scorer = ExportedScorer.load(model, backend, plugins)
    if FIRST_STAGE_SCORE in feature_names(scorer.ranker) and rows and not any(row.get(FIRST_STAGE_SCORE) is not None for row in rows):
        log.warning(
            "%s: this model reads the first stage's score, and no row has first_stage_score: it ranks by the texts alone, as it was not trained to",
            input_path,
        )
    declared = [name for name in feature_names(scorer.ranker) if name != FIRST_STAGE_SCORE]
    if declared and rows and not any(row.get(FEATURES_FIELD) for row in rows):
        log.warning("%s: this model reads %s, and no row has features: each reads 0, as it was not trained to", input_path, ", ".join(declared))
    probs = scorer.probs([row["request_text"] for row in rows], [row["candidate_text"] for row in rows], batch_size, _features(rows))
    scores = expected_grade(probs)
    with atomic_path(output_path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for row, row_probs, score in zip(rows, probs.tolist(), scores.tolist(), strict=True):
            scored = {**row, "score": score, "probs": row_probs}
            handle.write(json.dumps({**scored, **(served_fields(row, score, policy) if policy is not None else {})}) + "\n")
    return len(rows)
