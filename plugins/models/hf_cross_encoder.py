"""Cross-encoders from Hugging Face transformers: a pretrained teacher (LoRA via peft) and small students.

Two builders:

* ``hf_cross_encoder``: a pretrained encoder (``pretrained``) with a
  classification head over the label scale; ``lora`` makes only a LoRA adapter,
  the pooler and the head trainable.
* ``hf_from_config``: a small BERT-style encoder built from sizes in the config,
  with the teacher's tokenizer; ``init_from_teacher`` starts its embeddings from
  the teacher's, projected onto their top principal components so the student
  begins with the teacher's sense of which words are alike.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from stillroom import hookimpl
from stillroom.errors import StillroomError
from stillroom.plugins.models.locate import locate
from stillroom.ranker import BuildContext

PRETRAINED = "hf_cross_encoder"
FROM_CONFIG = "hf_from_config"
STILLROOM_CONFIG_FILE = "stillroom_ranker.json"


class HFCrossEncoder(torch.nn.Module):
    """A sequence-classification model and its tokenizer, reading (request, candidate) as a text pair."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int, num_labels: int) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.num_labels = num_labels

    def tokenize(self, requests: Sequence[str], candidates: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(
                list(requests), list(candidates), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
        )

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        return self.model(**features).logits

    def input_embeddings(self) -> torch.nn.Module:
        return self.model.get_input_embeddings()

    def base_embeddings(self) -> torch.nn.Module:
        """The embeddings block (word, position, token type) of the underlying encoder."""
        base = self.model.get_base_model() if isinstance(self.model, PeftModel) else self.model
        return base.base_model.embeddings

    def save_pretrained(self, directory: Path) -> None:
        model = self.model
        if isinstance(model, PeftModel):
            model = copy.deepcopy(model).merge_and_unload()
        model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        (Path(directory) / STILLROOM_CONFIG_FILE).write_text(
            json.dumps({"max_length": self.max_length, "num_labels": self.num_labels}, indent=2) + "\n"
        )


def _tokenizer(source: str, where: str) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(locate(source, where), local_files_only=True)
    except OSError as exc:
        raise StillroomError(f"no tokenizer on disk for {source!r}: {exc}".splitlines()[0], where=where) from exc


def _lora(model: torch.nn.Module, lora: Mapping[str, Any]) -> torch.nn.Module:
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=int(lora["r"]),
        lora_alpha=int(lora["alpha"]),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=list(lora["target_modules"]),
        layers_to_transform=list(lora["layers"]) if lora.get("layers") is not None else None,
        modules_to_save=list(lora.get("modules_to_save", ["classifier"])),
    )
    return get_peft_model(model, config)


def build_pretrained(config: Mapping[str, Any], context: BuildContext, role: str) -> HFCrossEncoder:
    where = f"{role}.pretrained"
    source = locate(str(config["pretrained"]), where)
    hf_logging.set_verbosity_error()  # the "newly initialised head" notice is expected here
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=context.num_labels,
            local_files_only=True,
            trust_remote_code=bool(config.get("trust_remote_code", False)),
        )
    except OSError as exc:
        raise StillroomError(
            f"model {config['pretrained']!r} is not on disk (nothing is downloaded at run time): {exc}".splitlines()[0], where=where
        ) from exc
    if config.get("lora"):
        model = _lora(model, config["lora"])
    return HFCrossEncoder(model, _tokenizer(str(config.get("tokenizer") or config["pretrained"]), f"{role}.tokenizer"), int(config["max_length"]), context.num_labels)


def _project_rows(weight: torch.Tensor, width: int) -> torch.Tensor:
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


def _init_embeddings_from(student: torch.nn.Module, teacher: HFCrossEncoder) -> None:
    source = teacher.base_embeddings()
    target = student.base_model.embeddings
    width = target.word_embeddings.weight.shape[1]
    with torch.no_grad():
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            src, dst = getattr(source, name).weight, getattr(target, name).weight
            rows = min(src.shape[0], dst.shape[0])
            dst[:rows] = _project_rows(src.float(), width)[:rows]


def build_from_config(config: Mapping[str, Any], context: BuildContext, role: str) -> HFCrossEncoder:
    tokenizer = _tokenizer(str(config["tokenizer"]), f"{role}.tokenizer")
    max_length = int(config["max_length"])
    bert_config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(config["hidden_size"]),
        num_hidden_layers=int(config["num_layers"]),
        num_attention_heads=int(config["num_heads"]),
        intermediate_size=int(config["intermediate_size"]),
        max_position_embeddings=max(max_length, 64),
        hidden_dropout_prob=float(config.get("dropout", 0.1)),
        attention_probs_dropout_prob=float(config.get("dropout", 0.1)),
        num_labels=context.num_labels,
        pad_token_id=tokenizer.pad_token_id or 0,
    )
    model = AutoModelForSequenceClassification.from_config(bert_config)
    teacher = context.teacher
    if config.get("init_from_teacher") and teacher is not None:
        if not isinstance(teacher, HFCrossEncoder):
            raise StillroomError("init_from_teacher needs a transformers teacher", where=f"{role}.init_from_teacher")
        _init_embeddings_from(model, teacher)
    return HFCrossEncoder(model, tokenizer, max_length, context.num_labels)


@hookimpl
def stillroom_build_model(role: str, model_config: Mapping[str, Any], context: BuildContext) -> HFCrossEncoder | None:
    name = model_config.get("name")
    if name == PRETRAINED:
        return build_pretrained(model_config, context, role)
    if name == FROM_CONFIG:
        return build_from_config(model_config, context, role)
    return None
