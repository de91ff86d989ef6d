"""What a stage promises: the config it reads, the artifacts it reads, the artifacts it writes.

Each stage module declares its stages beside its code (a ``declare(config)``
function returning :class:`Stage` objects). Everything between stages is
derived from those declarations by :class:`Plan`: the order (a stage runs
after the stages whose artifacts it reads), each stage's upstream (its
fingerprint covers theirs), the models that ``evaluate`` and ``export`` see
(the :class:`TrainedModel` each training stage declares), and where a read
finds its file. A stage reads and writes only what it declares (see
:class:`stillroom.stages.stage_io.StageIO`), so a declaration cannot drift from the code.

Artifacts are named ``owner.what`` (``teacher.weights``, ``evaluation.models``);
a stage may read a pattern (``*.weights``: every trained model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from stillroom.errors import StillroomError
from stillroom.ranker import PRUNING_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    from stillroom.stages.context import RunContext

HISTORY_FILE = "history.jsonl"
"""A training stage's per-epoch figures, one JSON line each."""


@dataclass(frozen=True)
class Artifact:
    """A file (or folder) a stage writes into its own folder, for other stages and for people."""

    name: str
    """How readers ask for it: ``teacher.weights``, ``evaluation.models``."""
    file: str
    """Its path in the writing stage's folder."""
    optional: bool = False
    """Written only in some runs (a labeler's hidden states, a pruning plan); readers check ``has`` first."""


@dataclass(frozen=True)
class TrainedModel:
    """A model a stage trains: its name in the report, the config role that builds it, and its artifacts."""

    name: str
    role: str
    on_policy_scale: bool = True
    """Whether it predicts the policy's labels (kappa, timed beside the others); the engagement teacher has its own scale."""

    @property
    def weights(self) -> Artifact:
        return Artifact(model_weights(self.name), WEIGHTS_FILE)

    @property
    def pruning(self) -> Artifact:
        return Artifact(model_pruning(self.name), PRUNING_FILE, optional=True)

    @property
    def history(self) -> Artifact:
        return Artifact(f"{self.name}.history", HISTORY_FILE)

    @property
    def artifacts(self) -> tuple[Artifact, ...]:
        return (self.weights, self.pruning, self.history)


def model_weights(name: str) -> str:
    return f"{name}.weights"


def model_pruning(name: str) -> str:
    return f"{name}.pruning"


def reads_model(name: str) -> tuple[str, str]:
    """What loading the trained model ``name`` reads: its weights and, when it was pruned, its pruning plan."""
    return (model_weights(name), model_pruning(name))


def data_split(split: str) -> str:
    """A split the data source gave (``train``, ``dev``, ``test``, ``pool``), as ``prepare`` wrote it."""
    return f"data.{split}"


def soft_labels(labeler: str) -> str:
    """The soft labels the model ``labeler`` gave the pool and golden train."""
    return f"{labeler}.labels"


def hidden_states(labeler: str) -> str:
    """The pooled representations ``labeler`` recorded beside its labels, when it has them."""
    return f"{labeler}.hidden_states"


EVERY_MODEL = model_weights("*")
EVERY_HISTORY = "*.history"


@dataclass(frozen=True)
class Stage:
    """One step of the recipe, as its module declares it."""

    name: str
    run: Callable[[RunContext], dict[str, Any]]
    config_keys: tuple[str, ...]
    """Config entries the stage reads, dotted for nested ones (``loss.finetune``); its fingerprint covers them."""
    reads: tuple[str, ...] = ()
    """Artifacts of other stages it reads, by name or pattern."""
    writes: tuple[Artifact, ...] = ()
    trains: TrainedModel | None = None
    """The model it trains, if any; its weights, pruning plan and history join ``writes``."""
    after: tuple[str, ...] = ()
    """Stages that must have run first though it reads nothing of theirs (labeling at scale waits for the gate);
    unlike ``reads``, they stay out of its fingerprint."""
    check: Callable[[Mapping[str, Any], Plan], None] | None = None
    """Checks the stage's config against the whole plan before any stage runs (a named model that does not exist)."""

    @property
    def outputs(self) -> tuple[Artifact, ...]:
        return (*self.writes, *(self.trains.artifacts if self.trains else ()))


class Plan:
    """The recipe's stages in run order, with what each reads resolved to the stage that writes it."""

    def __init__(self, declared: Iterable[Stage]) -> None:
        declared = list(declared)
        self._writers = self._index_writers(declared)
        self.upstream = {stage.name: self._upstream(stage) for stage in declared}
        self.stages: tuple[Stage, ...] = self._ordered(declared)

    @staticmethod
    def _index_writers(stages: list[Stage]) -> dict[str, tuple[Stage, Artifact]]:
        writers: dict[str, tuple[Stage, Artifact]] = {}
        for stage in stages:
            for artifact in stage.outputs:
                if artifact.name in writers:
                    raise StillroomError(f"two stages write {artifact.name!r}: {writers[artifact.name][0].name} and {stage.name}", where="recipe")
                writers[artifact.name] = (stage, artifact)
        return writers

    def resolve(self, pattern: str) -> list[tuple[Stage, Artifact]]:
        """The stages and artifacts a read names, in declaration order; an unmatched read is an error in the recipe."""
        found = [writer for name, writer in self._writers.items() if fnmatchcase(name, pattern)]
        if not found:
            raise StillroomError(f"no stage of this recipe writes {pattern!r}", where="recipe")
        return found

    def _upstream(self, stage: Stage) -> tuple[str, ...]:
        names = [writer.name for pattern in stage.reads for writer, _ in self.resolve(pattern)]
        return tuple(dict.fromkeys(name for name in names if name != stage.name))

    def _ordered(self, declared: list[Stage]) -> tuple[Stage, ...]:
        """A topological order that keeps the declaration order wherever the reads allow it."""
        placed: list[Stage] = []
        waiting = list(declared)
        while waiting:
            done = {p.name for p in placed}
            ready = next((s for s in waiting if done >= {*self.upstream[s.name], *s.after}), None)
            if ready is None:
                raise StillroomError(f"the stages {', '.join(s.name for s in waiting)} read each other's artifacts in a cycle", where="recipe")
            placed.append(ready)
            waiting.remove(ready)
        return tuple(placed)

    def downstream(self, name: str) -> list[str]:
        """The stages that read what stage ``name`` writes, directly or through others, in run order."""
        reached = {name}
        for stage in self.stages:
            if reached.intersection(self.upstream[stage.name]):
                reached.add(stage.name)
        return [stage.name for stage in self.stages if stage.name in reached - {name}]

    def models(self, pattern: str = EVERY_MODEL) -> list[TrainedModel]:
        """The trained models whose weights match ``pattern``, in run order."""
        names = {artifact.name for _, artifact in self.resolve(pattern)}
        return [s.trains for s in self.stages if s.trains is not None and s.trains.weights.name in names]

    def model(self, name: str) -> TrainedModel:
        return self.models(model_weights(name))[0]

    def check(self, config: Mapping[str, Any]) -> None:
        """Run every stage's own check of the config against this plan, before anything trains."""
        for stage in self.stages:
            if stage.check is not None:
                stage.check(config, self)


def describe(plan: Plan) -> str:
    """The plan as a markdown table: each stage's config entries, the artifacts it reads and those it writes."""

    def names(items: Iterable[str]) -> str:
        return ", ".join(f"`{item}`" for item in items) or "—"

    def written(artifact: Artifact) -> str:
        return f"{artifact.name}{'?' if artifact.optional else ''} ({artifact.file})"

    rows = [
        f"| {stage.name} | {names(stage.config_keys)} | {names(stage.reads)} | {names(map(written, stage.outputs))} |" for stage in plan.stages
    ]
    return "\n".join(["| stage | config it reads | artifacts it reads | artifacts it writes (file; ? when optional) |", "|---|---|---|---|", *rows])
