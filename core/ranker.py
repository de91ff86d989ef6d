"""What the engine needs from a model, whatever its family.

A ranker scores (request, candidate) pairs over the policy's label scale: its
forward pass returns one logit per label. Plugins contribute model families as
:class:`ModelSpec`s (``stillroom_models``); the engine trains, saves, scores and
exports rankers through this interface and the optional capabilities below alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from stillroom.data import Pair
from stillroom.errors import StillroomError, did_you_mean
from stillroom.plugin_boundary import Contributed, ContributeHook, FirstAnswerHook, by_name, instance_of
from stillroom.policy import Policy

if TYPE_CHECKING:
    from stillroom.plugin_manager import Plugins

WEIGHTS_FILE = "weights.safetensors"
PRUNING_FILE = "pruning.json"
"""Beside the weights of a pruned model: the plan that gives a freshly built model the pruned structure."""


@runtime_checkable
class Ranker(Protocol):
    """A ``torch.nn.Module`` that maps tokenized pairs to label logits.

    Beyond these three methods a ranker may offer the capabilities below, each a
    small protocol the engine checks with ``isinstance`` before it relies on one.

    Example::

        >>> import torch
        >>> from safetensors.torch import save_model
        >>> from stillroom.api import Ranker
        >>> class LengthRanker(torch.nn.Module):  # scores a pair by its candidate's length alone
        ...     def __init__(self, num_labels):
        ...         super().__init__()
        ...         self.num_labels, self.head = num_labels, torch.nn.Linear(1, num_labels)
        ...     def tokenize(self, requests, candidates):
        ...         return {"lengths": torch.tensor([[len(text) / 100] for text in candidates])}
        ...     def forward(self, lengths):
        ...         return self.head(lengths)
        ...     def save_pretrained(self, directory):
        ...         save_model(self, str(directory / "model.safetensors"))
        >>> model = LengthRanker(num_labels=4)
        >>> isinstance(model, Ranker), model(**model.tokenize(["Data Engineer"], ["Data Engineer, Berlin"])).shape
        (True, torch.Size([1, 4]))
    """

    num_labels: int
    """The width of its logits, one per grade: ``BuildContext.num_labels`` (the policy's scale, or the engagement
    teacher's own)."""

    def tokenize(self, requests: Sequence[str], candidates: Sequence[str]) -> dict[str, torch.Tensor]:
        """Tokenize a batch of pairs into the features ``forward`` takes."""

    def forward(self, **features: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``[batch, num_labels]``."""

    def save_pretrained(self, directory: Path) -> None:
        """Write a self-contained folder (weights as safetensors, config, tokenizer)."""


@runtime_checkable
class HasInferenceForm(Protocol):
    """It scores the same, faster, in another form (a LoRA adapter merged into its weights): the engine scores
    every trained model it loads in that form.

    ``for_inference()`` returns that form, a :class:`Ranker`: a trained model is loaded in it for scoring, pruning
    and export (its ``save_pretrained`` writes the exported folder); training uses the model itself.

    Example::

        >>> import torch
        >>> from stillroom.api import HasInferenceForm
        >>> class Adapted(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.base, self.delta = torch.nn.Linear(3, 4), torch.nn.Linear(3, 4, bias=False)  # delta: trained
        ...     def forward(self, x):
        ...         return self.base(x) + self.delta(x)
        ...     def for_inference(self):  # one layer with the update merged in: the same logits, one matmul
        ...         merged = torch.nn.Linear(3, 4)
        ...         merged.load_state_dict({"weight": self.base.weight + self.delta.weight, "bias": self.base.bias})
        ...         return merged
        >>> model, x = Adapted(), torch.ones(2, 3)
        >>> isinstance(model, HasInferenceForm), torch.allclose(model(x), model.for_inference()(x))
        (True, True)
    """

    def for_inference(self) -> Ranker: ...


@runtime_checkable
class HasHidden(Protocol):
    """It also returns the pooled ``[batch, width]`` representation its logits are read from: a labeler records it
    beside its soft labels, and a student learns the teacher's (the ``hidden_mse`` kind of loss).

    ``forward_with_hidden(**features)`` returns ``(logits, hidden)``, the logits the same as ``forward``'s.

    Example::

        >>> import torch
        >>> from stillroom.api import HasHidden
        >>> class Pooled(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.encode, self.head = torch.nn.Linear(3, 8), torch.nn.Linear(8, 4)
        ...     def forward_with_hidden(self, x):
        ...         hidden = self.encode(x).tanh()
        ...         return self.head(hidden), hidden
        ...     def forward(self, x):
        ...         return self.forward_with_hidden(x)[0]
        >>> logits, hidden = Pooled().forward_with_hidden(torch.ones(2, 3))
        >>> isinstance(Pooled(), HasHidden), logits.shape, hidden.shape
        (True, torch.Size([2, 4]), torch.Size([2, 8]))
    """

    def forward_with_hidden(self, **features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Prunable(Protocol):
    """The ``prune`` stage can cut it: ``prune`` removes its least important layers and heads in place, by the
    gradient of ``loss_of()``, and returns the plan; ``apply_pruning(plan)`` gives a freshly built model the same
    structure, so that pruned weights load.

    The stage prunes the trained student as loaded for scoring (its inference form, when it has one).
    ``keep_layers`` and ``keep_heads`` (per layer) come from the ``prune`` config; ``None`` keeps them all. The
    plan is saved as JSON beside the weights (``pruning.json``), so it holds plain values, and the stage's summary
    reads two of its keys: ``layers`` (the kept layers) and ``heads`` (each kept layer's heads, by layer).

    Example::

        >>> import torch
        >>> from stillroom.api import Prunable
        >>> class Stack(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.layers = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(4))
        ...     def prune(self, keep_layers, keep_heads, loss_of):  # a real model ranks layers by loss_of()'s gradient
        ...         plan = {"layers": list(range(keep_layers or len(self.layers))), "heads": {}}
        ...         self.apply_pruning(plan)
        ...         return plan
        ...     def apply_pruning(self, plan):
        ...         self.layers = torch.nn.ModuleList(self.layers[i] for i in plan["layers"])
        >>> model = Stack()
        >>> isinstance(model, Prunable), model.prune(2, None, loss_of=lambda: torch.tensor(0.0)), len(model.layers)
        (True, {'layers': [0, 1], 'heads': {}}, 2)
    """

    def prune(self, keep_layers: int | None, keep_heads: int | None, loss_of: Callable[[], torch.Tensor]) -> dict[str, Any]: ...

    def apply_pruning(self, plan: dict[str, Any]) -> None: ...


@runtime_checkable
class Exportable(Protocol):
    """It has a form that scores the same from ``forward(**features)`` alone, keeping nothing between calls (no cache,
    no per-text bookkeeping in Python), so that ``torch.export`` can trace it to ONNX. Without it the inference form
    is exported as it is.

    Example::

        >>> import torch
        >>> from stillroom.api import Exportable
        >>> class Memoised(torch.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.head, self.seen = torch.nn.Linear(3, 4), {}
        ...     def forward(self, x):  # keeps each input's logits in a Python dict: torch.export cannot trace that
        ...         return torch.stack([self.seen.setdefault(tuple(row.tolist()), self.head(row)) for row in x])
        ...     def for_export(self):
        ...         return self.head
        >>> model, x = Memoised().eval(), torch.ones(2, 3)
        >>> isinstance(model, Exportable), torch.allclose(model(x), model.for_export()(x))
        (True, True)
    """

    def for_export(self) -> torch.nn.Module: ...


@runtime_checkable
class CachesCandidates(Protocol):
    """In eval mode it keeps each candidate's encoding after first use (a two-tower model), so its measured throughput
    is that of ranking with a candidate index built offline.

    Example::

        >>> import torch
        >>> from stillroom.api import CachesCandidates
        >>> class TwoTower(torch.nn.Module):
        ...     caches_candidates = True  # in eval mode, each candidate is encoded once and then read from a cache
        >>> isinstance(TwoTower(), CachesCandidates), isinstance(torch.nn.Linear(2, 2), CachesCandidates)
        (True, False)
    """

    caches_candidates: bool
    """``True`` when it caches: throughput is then timed with every candidate already cached, and the report marks
    the model ``candidates_cached``; ``False`` times it as any other model."""


@runtime_checkable
class ScoresInBulk(Protocol):
    """It may reuse what it computed of a text before (a frozen encoder's vectors, kept on disk) when it scores in bulk:
    labeling the pool, evaluating a split. The engine scores in bulk inside ``bulk_scoring()``, and never times a
    model there: the report's throughput is the model computing what it serves.

    Example::

        >>> import contextlib, torch
        >>> from stillroom.api import ScoresInBulk
        >>> class Remembers(torch.nn.Module):
        ...     reuse = False
        ...     @contextlib.contextmanager
        ...     def bulk_scoring(self):
        ...         self.reuse = True
        ...         try:
        ...             yield
        ...         finally:
        ...             self.reuse = False
        >>> model = Remembers()
        >>> with model.bulk_scoring():
        ...     inside = model.reuse
        >>> isinstance(model, ScoresInBulk), inside, model.reuse
        (True, True, False)
    """

    def bulk_scoring(self) -> AbstractContextManager[None]: ...


def bulk_scoring(model: object) -> AbstractContextManager[None]:
    """``model.bulk_scoring()`` for a :class:`ScoresInBulk` model; a context that changes nothing for any other."""
    return model.bulk_scoring() if isinstance(model, ScoresInBulk) else nullcontext()


@dataclass(frozen=True)
class ModelSpec:
    """A model family a plugin contributes (``stillroom_models``): a role's config names it (``student.name``).

    ``build(role, model_config, context)`` returns the :class:`Ranker`; ``model_config`` is the role's config group
    as plain Python objects.

    Example::

        >>> import torch
        >>> from stillroom.api import BuildContext, ModelSpec
        >>> class Tiny(torch.nn.Module):  # tokenize, forward and save_pretrained as in Ranker's example
        ...     def __init__(self, width, num_labels):
        ...         super().__init__()
        ...         self.num_labels, self.head = num_labels, torch.nn.Linear(width, num_labels)
        >>> def build(role, model_config, context):
        ...     return Tiny(model_config.get("width", 8), context.num_labels)
        >>> spec = ModelSpec("tiny", build, description="a linear layer over a few features")
        >>> spec.build("student", {"name": "tiny", "width": 16}, BuildContext(num_labels=4)).head
        Linear(in_features=16, out_features=4, bias=True)
    """

    name: str
    """What a role's config selects (``student.name: tiny``); a later plugin's spec of the same name replaces it."""
    build: Callable[[str, Mapping[str, Any], BuildContext], Ranker]
    """``build(role, model_config, context)`` returns a :class:`Ranker` (a torch module) for ``role`` (``judge``,
    ``teacher``, ``engagement_teacher`` or ``student``); torch is seeded with the run's seed before each call."""
    description: str = ""
    """The architecture in a phrase: the model card's Architecture line quotes it."""
    check: Callable[[str, Mapping[str, Any]], None] | None = None
    """``check(role, model_config)``, called before any stage runs: raise a ``StillroomError`` for a config that
    cannot build (weights that are not on disk, with the command that puts them there), so that a run fails at
    once rather than after its first stages. ``None``: nothing to check before building."""


MODELS: ContributeHook[ModelSpec] = ContributeHook("stillroom_models", instance_of(ModelSpec, "a ModelSpec"), "a list of ModelSpec")
IS_RANKER = instance_of(torch.nn.Module, "a Ranker (a torch module)")
LOAD_EXPORTED: FirstAnswerHook[Ranker] = FirstAnswerHook("stillroom_load_exported", IS_RANKER)


def available_models(plugins: Plugins) -> dict[str, ModelSpec]:
    """Every model family the plugins contribute, by name (a later plugin overrides a built-in), each building and
    checking its config through its plugin's boundary: what it raises, or a build that is no torch module, names
    the plugin."""

    def at_boundary(family: Contributed[ModelSpec]) -> ModelSpec:
        spec, what = family.item, f"model {family.item.name!r}"

        def build(role: str, model_config: Mapping[str, Any], context: BuildContext) -> Ranker:
            return family.run(what, spec.build, role, model_config, context, expect=IS_RANKER)

        def check(role: str, model_config: Mapping[str, Any]) -> None:
            if spec.check is not None:
                family.run(f"{what}, check", spec.check, role, model_config)

        return replace(spec, build=build, check=check)

    families = by_name([*legacy_models(plugins), *MODELS(plugins)], lambda spec: spec.name)
    return {name: at_boundary(family) for name, family in families.items()}


LEGACY_MODEL_NAMES: ContributeHook[str] = ContributeHook("stillroom_model_names", instance_of(str, "a model name"), "a list of model names")
LEGACY_BUILD_MODEL: FirstAnswerHook[Ranker] = FirstAnswerHook("stillroom_build_model", IS_RANKER)
"""The hooks ``stillroom_models`` replaced (0.2.0), still called until 0.3.0 (pluggy warns as such a plugin registers)."""


def legacy_models(plugins: Plugins) -> list[Contributed[ModelSpec]]:
    """Each name a plugin of the previous API lists (``stillroom_model_names``) as a family that builds through its
    ``stillroom_build_model``: so such a plugin's models keep working, behind any family ``stillroom_models`` names."""

    def build(role: str, model_config: Mapping[str, Any], context: BuildContext) -> Ranker:
        built = LEGACY_BUILD_MODEL(plugins, role=role, model_config=model_config, context=context)
        if built is None:
            raise StillroomError(f"no plugin's stillroom_build_model builds {model_config.get('name')!r}", where=f"{role}.name")
        return built.item

    described = "built by the deprecated stillroom_build_model hook"
    return [Contributed(ModelSpec(name.item, build, described), name.plugin, name.hook) for name in LEGACY_MODEL_NAMES(plugins)]


def model_spec(models: Mapping[str, ModelSpec], role: str, model_config: Mapping[str, Any]) -> ModelSpec:
    """The family ``model_config["name"]`` names; an unknown name is an error that lists the known ones."""
    name = model_config.get("name")
    if name not in models:
        raise StillroomError(
            f"no plugin builds a model named {name!r} for role {role!r}{did_you_mean(name, models)}; models: {', '.join(sorted(models)) or 'none'} "
            "(install the plugin that provides it; `stillroom plugins` lists them)",
            where=f"{role}.name",
        )
    return models[str(name)]


def build_model(models: Mapping[str, ModelSpec], role: str, model_config: Mapping[str, Any], context: BuildContext) -> Ranker:
    """The model ``model_config["name"]`` names, built for ``role``."""
    return model_spec(models, role, model_config).build(role, model_config, context)


def for_inference(model: Ranker) -> Ranker:
    """The model's inference form (:class:`HasInferenceForm`), in eval mode."""
    return (model.for_inference() if isinstance(model, HasInferenceForm) else model).eval()


def export_form(model: Ranker) -> torch.nn.Module:
    """What ONNX export traces: the model's :class:`Exportable` form, else its inference form; in eval mode."""
    model = for_inference(model)
    return (model.for_export() if isinstance(model, Exportable) else model).eval()


def caches_candidates(model: Ranker) -> bool:
    """Whether the model keeps its candidates' encodings in eval mode (:class:`CachesCandidates`)."""
    return isinstance(model, CachesCandidates) and bool(model.caches_candidates)


@dataclass(frozen=True)
class BuildContext:
    """What a model builder may need beyond its own config.

    Example::

        >>> from stillroom.api import BuildContext
        >>> context = BuildContext(num_labels=3, label_names=("not_relevant", "relevant", "highly_relevant"))
        >>> context.id2label(), context.teacher is None
        ({0: 'not_relevant', 1: 'relevant', 2: 'highly_relevant'}, True)
        >>> BuildContext(num_labels=2).id2label()
        {0: 'LABEL_0', 1: 'LABEL_1'}
    """

    num_labels: int
    """The width of the built model's logits: the policy's number of labels, or for the engagement teacher its own
    scale (no event, then each of ``product.engagement_events``)."""
    teacher: Ranker | None = None
    """For a student: the trained teacher to initialise from, or ``None`` when weights will be loaded."""
    label_names: tuple[str, ...] = ()
    """The policy's label names, in label order, for models that carry them (an exported config's id2label)."""
    policy: Policy | None = None
    """The run's policy, for models that read it (a judge whose prompt quotes the prose)."""
    precedents: tuple[Pair, ...] = ()
    """The policy's precedents rendered as labeled pairs, for a judge whose prompt quotes them."""
    served_base: str | None = None
    """The run's ``served_base``: the pretrained model of the size that serves. ``zero_shot`` is it off the shelf,
    whatever base the teacher has; ``teacher_base`` is the teacher's own where that differs."""
    features: tuple[str, ...] = ()
    """The features the product declares (``product.features``): a model may read them beside the engine's own."""

    def id2label(self) -> dict[int, str]:
        names = self.label_names or tuple(f"LABEL_{i}" for i in range(self.num_labels))
        return dict(enumerate(names))


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight of a trained ranker, frozen ones included.

    Frozen weights are saved too: some (a student's embeddings projected from its
    teacher) cannot be rebuilt from the config alone.
    """
    return {name: t.detach().contiguous() for name, t in model.state_dict().items()}


def load_model_state(model: torch.nn.Module, path: Path) -> None:
    """Load a saved :func:`model_state` into a freshly built model of the same config."""
    try:
        state = load_file(str(path))
    except SafetensorError as exc:
        raise StillroomError(f"not a safetensors file of weights ({exc}); it is not loaded", where=str(path)) from None
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise StillroomError(
            f"saved weights do not fit the model built from the config "
            f"(missing {result.missing_keys[:2]}, unexpected {result.unexpected_keys[:2]}); "
            "did the model config change since they were trained?",
            where=str(path),
        )


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def expected_grade(probs: torch.Tensor) -> torch.Tensor:
    """Expected label divided by the top label: a ranking score in (0, 1)."""
    grades = torch.arange(probs.shape[-1], dtype=probs.dtype, device=probs.device)
    return (probs * grades).sum(-1) / (probs.shape[-1] - 1)
