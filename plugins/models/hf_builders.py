"""Builders of transformers rankers: a pretrained cross-encoder teacher (LoRA via peft) and small students.

Six builders, registered by :mod:`stillroom.plugins.models.transformers_families`:

* ``hf_cross_encoder``: a pretrained encoder (``pretrained``) with a
  classification head over the label scale, read from [CLS] (``pooling: cls``,
  transformers' own sequence classifier) or by mean pooling (``pooling: mean``);
  ``lora`` makes only a LoRA adapter and the head trainable, and
  ``similarity_prior`` adds the base model's own cosine as an ordinal prior
  (:mod:`stillroom.plugins.models.similarity_prior`).
* ``hf_from_config``: a small BERT-style encoder built from sizes in the config,
  with the teacher's tokenizer; ``init_from_teacher`` starts its embeddings from
  the teacher's, projected onto their top principal components so the student
  begins with the teacher's sense of which words are alike, and
  ``freeze_word_embeddings`` keeps that vocabulary table fixed.
* ``hf_pruned_teacher``: chosen layers of a mean-pooled BERT-style teacher at
  its full width, each feed-forward pruned to its most important neurons: the
  student starts with the teacher's pretrained token-matching ability, which a
  small encoder trained from scratch on a few thousand pairs does not learn.
* ``two_tower``: a bi-encoder over a frozen pretrained encoder
  (:mod:`stillroom.plugins.models.two_tower`), whose candidate vectors are
  cached when it serves.
* ``bi_encoder``: the whole pretrained encoder, frozen and read as
  ``zero_shot`` reads it, under a residual adapter per side
  (:mod:`stillroom.plugins.models.bi_encoder`): a student that starts at the
  free model's quality.
* ``late_interaction``: request and candidate token states of a frozen
  pretrained encoder meeting in one cross-attention
  (:mod:`stillroom.plugins.models.late_interaction`), candidate side cached
  when it serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    BertConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from stillroom.errors import StillroomError
from stillroom.features import check_feature_names
from stillroom.plugins.models.adapters import with_lora
from stillroom.plugins.models.bi_encoder import AdaptedBiEncoder
from stillroom.plugins.models.cross_encoder import HFCrossEncoder, MeanPoolingClassifier
from stillroom.plugins.models.late_interaction import LateInteractionRanker
from stillroom.plugins.models.locate import load_tokenizer, loading_weights, locate
from stillroom.plugins.models.pruning import keep_heads, strongest_heads
from stillroom.plugins.models.similarity_prior import SimilarityPriorClassifier
from stillroom.plugins.models.transfer import init_embeddings_from, narrowed_state, principal_basis, teacher_layers_state
from stillroom.plugins.models.two_tower import TwoTowerRanker
from stillroom.plugins.models.vector_store import VectorStore
from stillroom.plugins.models.zero_shot import EmbeddingCosineScorer
from stillroom.ranker import BuildContext

POOLINGS = ("cls", "mean")
MEAN_POOLED = "mean_pooled_last_layer"
"""How the bi-encoder, the similarity prior and the zero-shot scorer read a text: the vector store keeps it under this name."""


def _tokenizer(source: str, where: str) -> PreTrainedTokenizerBase:
    return load_tokenizer(locate(source, where), where)


def _pooling(config: Mapping[str, Any], role: str) -> str:
    pooling = str(config.get("pooling", "cls"))
    if pooling not in POOLINGS:
        raise StillroomError(f"expected one of {', '.join(POOLINGS)}, got {pooling!r}", where=f"{role}.pooling")
    return pooling


def _from_pretrained(auto: Any, config: Mapping[str, Any], role: str, **extra: Any) -> PreTrainedModel:
    where = f"{role}.pretrained"
    source = locate(str(config["pretrained"]), where)
    hf_logging.set_verbosity_error()  # the "newly initialised head" notice is expected here
    with loading_weights(str(config["pretrained"]), where):
        return auto.from_pretrained(source, local_files_only=True, trust_remote_code=bool(config.get("trust_remote_code", False)), **extra)


def build_pretrained(config: Mapping[str, Any], context: BuildContext, role: str) -> HFCrossEncoder:
    pooling = _pooling(config, role)
    prior = bool(config.get("similarity_prior"))
    if prior and (pooling != "mean" or not config.get("lora")):
        raise StillroomError(
            "a similarity prior reads the base encoder by mean pooling with its LoRA adapter off: it needs pooling: mean and lora",
            where=f"{role}.similarity_prior",
        )
    auto = AutoModel if pooling == "mean" else AutoModelForSequenceClassification
    labels = context.id2label()
    extra = {} if pooling == "mean" else {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    model = _from_pretrained(auto, config, role, **extra)
    if config.get("lora"):
        model = with_lora(model, config["lora"], "FEATURE_EXTRACTION" if pooling == "mean" else "SEQ_CLS")
    if prior:
        features = check_feature_names(list(config.get("features") or ()), f"{role}.features", context.features)
        learn = bool(config.get("learn_feature_weights", True))
        model = SimilarityPriorClassifier(model, context.num_labels, float(config.get("dropout", 0.1)), features, learn)
    elif pooling == "mean":
        model = MeanPoolingClassifier(model, context.num_labels, float(config.get("dropout", 0.1)))
    tokenizer = _tokenizer(str(config.get("tokenizer") or config["pretrained"]), f"{role}.tokenizer")
    return HFCrossEncoder(model, tokenizer, int(config["max_length"]), context.num_labels)


def build_zero_shot(config: Mapping[str, Any], context: BuildContext) -> EmbeddingCosineScorer:
    """The teacher's encoder as it ships (``pretrained``), or as built from sizes, read by mean-pooled cosine."""
    role = "teacher"
    store = None
    if config.get("pretrained"):
        encoder = _from_pretrained(AutoModel, config, role)
        tokenizer = _tokenizer(str(config.get("tokenizer") or config["pretrained"]), f"{role}.tokenizer")
        store = VectorStore.for_encoder(locate(str(config["pretrained"]), f"{role}.pretrained"), MEAN_POOLED)
    else:
        built = build_from_config(config, context, role)
        encoder, tokenizer = built.base_encoder(), built.tokenizer
    return EmbeddingCosineScorer(encoder, tokenizer, int(config["max_length"]), store, context.num_labels)


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
        id2label=context.id2label(),
        label2id={name: index for index, name in context.id2label().items()},
        pad_token_id=tokenizer.pad_token_id or 0,
    )
    pooling = _pooling(config, role)
    if pooling == "mean":
        encoder = AutoModel.from_config(bert_config, add_pooling_layer=False)
        model = MeanPoolingClassifier(encoder, context.num_labels, float(config.get("dropout", 0.1)))
    else:
        model = AutoModelForSequenceClassification.from_config(bert_config)
    student = HFCrossEncoder(model, tokenizer, max_length, context.num_labels)
    teacher = context.teacher
    if config.get("init_from_teacher") and teacher is not None:
        if not isinstance(teacher, HFCrossEncoder):
            raise StillroomError("init_from_teacher needs a transformers teacher", where=f"{role}.init_from_teacher")
        init_embeddings_from(student, teacher)
    if config.get("freeze_word_embeddings"):
        # The vocabulary table is most of a small student's parameters and of its update cost;
        # started from the teacher's, it can stay as it is.
        student.input_embeddings().weight.requires_grad_(False)
    return student


def _frozen_encoder(config: Mapping[str, Any], role: str, layers: Mapping[str, list[int]]) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The pretrained encoder cut after the deepest of the ``layers`` it is read at, and its tokenizer.

    ``layers`` maps each config key that names layers to its numbers: 0 is the
    embeddings, 1 the first layer's output; a key read at layer 0 alone needs no layer at all.
    """
    encoder_config = AutoConfig.from_pretrained(locate(str(config["pretrained"]), f"{role}.pretrained"), local_files_only=True)
    depth = encoder_config.num_hidden_layers
    for key, numbers in layers.items():
        if not numbers or min(numbers) < 0 or max(numbers) > depth:
            expected = f"expected layer numbers from 0 (the embeddings) to {depth} (the encoder's depth)"
            raise StillroomError(f"{expected}, got {numbers}", where=f"{role}.{key}")
    deepest = max(max(numbers) for numbers in layers.values())
    encoder = _from_pretrained(AutoModel, config, role, num_hidden_layers=deepest, add_pooling_layer=False)
    return encoder, _tokenizer(str(config.get("tokenizer") or config["pretrained"]), f"{role}.tokenizer")


def build_two_tower(config: Mapping[str, Any], context: BuildContext, role: str) -> TwoTowerRanker:
    """A frozen pretrained encoder, cut after the deepest layer either side reads, under two trainable towers."""
    layers = {key: [int(layer) for layer in config[key]] for key in ("request_layers", "candidate_layers")}
    encoder, tokenizer = _frozen_encoder(config, role, layers)
    return TwoTowerRanker(
        encoder,
        tokenizer,
        int(config["max_length"]),
        context.num_labels,
        layers["request_layers"],
        layers["candidate_layers"],
        int(config["tower_hidden"]),
        int(config["embedding_dim"]),
    )


def build_bi_encoder(config: Mapping[str, Any], context: BuildContext, role: str) -> AdaptedBiEncoder:
    """The base encoder whole and frozen, read as ``zero_shot`` reads it, under a residual adapter per side."""
    encoder = _from_pretrained(AutoModel, config, role, add_pooling_layer=False)
    tokenizer = _tokenizer(str(config.get("tokenizer") or config["pretrained"]), f"{role}.tokenizer")
    features = check_feature_names(list(config.get("features") or ()), f"{role}.features", context.features)
    learn = bool(config.get("learn_feature_weights", False))
    model = AdaptedBiEncoder(encoder, tokenizer, int(config["max_length"]), context.num_labels, int(config["adapter_hidden"]), features, learn)
    model.vector_store = VectorStore.for_encoder(locate(str(config["pretrained"]), f"{role}.pretrained"), MEAN_POOLED)
    return model


def build_late_interaction(config: Mapping[str, Any], context: BuildContext, role: str) -> LateInteractionRanker:
    """A frozen pretrained encoder, cut after ``layer``, whose request and candidate token states meet in one cross-attention."""
    layer = int(config["layer"])
    encoder, tokenizer = _frozen_encoder(config, role, {"layer": [layer]})
    dim, heads = int(config["interaction_dim"]), int(config["heads"])
    if dim % heads:
        raise StillroomError(f"expected interaction_dim divisible by heads ({heads}), got {dim}", where=f"{role}.interaction_dim")
    return LateInteractionRanker(encoder, tokenizer, int(config["max_length"]), context.num_labels, layer, dim, heads, int(config["mlp_hidden"]))


def build_pruned_teacher(config: Mapping[str, Any], context: BuildContext, role: str) -> HFCrossEncoder:
    """Chosen layers of the teacher, feed-forward pruned, read by mean pooling; at the teacher's width, or
    narrower (``hidden_size``) with every weight projected onto the top principal directions of its embeddings.

    With ``context.teacher`` the weights come from it (the head starts fresh);
    without, the same architecture is built empty for saved weights to fill.
    """
    source = locate(str(config["pretrained"]), f"{role}.pretrained")
    layers = [int(i) for i in config["layers"]]
    encoder_config = AutoConfig.from_pretrained(source, local_files_only=True)
    full_width = encoder_config.hidden_size
    head_size = full_width // encoder_config.num_attention_heads
    width = int(config.get("hidden_size") or full_width)
    if width > full_width or width % head_size:
        raise StillroomError(
            f"expected a multiple of the teacher's head size {head_size}, at most its width {full_width}, got {width}", where=f"{role}.hidden_size"
        )
    encoder_config.num_hidden_layers = len(layers)
    encoder_config.intermediate_size = int(config["intermediate_size"])
    encoder_config.hidden_size = width
    encoder_config.num_attention_heads = width // head_size
    encoder = AutoModel.from_config(encoder_config)
    if context.teacher is not None:
        if not isinstance(context.teacher, HFCrossEncoder):
            raise StillroomError("a pruned-teacher student needs a transformers teacher", where=f"{role}.name")
        state = teacher_layers_state(context.teacher, layers, encoder_config.intermediate_size)
        if width < full_width:
            state = narrowed_state(state, principal_basis(state["embeddings.word_embeddings.weight"], width), head_size)
        encoder.load_state_dict(state)
    heads = config.get("attention_heads")
    if heads is not None and int(heads) < encoder_config.num_attention_heads:
        # The most important heads by weight (value and output norms) with a teacher; any, as a shape, for saved weights.
        for layer in encoder.encoder.layer:
            keep_heads(layer, strongest_heads(layer, int(heads)) if context.teacher is not None else list(range(int(heads))))
    model = MeanPoolingClassifier(encoder, context.num_labels, float(config.get("dropout", 0.1)))
    student = HFCrossEncoder(model, _tokenizer(str(config["tokenizer"]), f"{role}.tokenizer"), int(config["max_length"]), context.num_labels)
    if config.get("freeze_word_embeddings"):
        student.input_embeddings().weight.requires_grad_(False)
    return student
