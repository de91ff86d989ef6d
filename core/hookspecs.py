"""The whole plugin API of stillroom: every hook a plugin may implement.

Hooks come in two kinds, as in pytest's ``hookspec.py``:

* "Provide the one X for this config" hooks are ``firstresult``: the first
  plugin that returns something other than ``None`` wins, later plugins are not
  called, and the engine raises a clear error naming the config when nobody
  answers. A plugin answers only for the names it knows and returns ``None``
  otherwise.
* "Contribute many" hooks return a collection from every plugin; the engine
  merges them.

Plugins registered later are called first, so a third-party plugin that
answers a ``firstresult`` hook for a name overrides the built-in one. Hook
signatures are public API: arguments may be added, and are deprecated before
they are removed. Implement only the arguments you need; pluggy passes them by
name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from stillroom import PROJECT_NAME
from stillroom.deprecation import REMOVED_IN
from stillroom.errors import StillroomDeprecationWarning

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

    from stillroom.artifacts import ArtifactStore
    from stillroom.baselines import Scorer
    from stillroom.data import DataBundle, DataSourceSpec
    from stillroom.evaluation import Evaluator
    from stillroom.losses import LossSpec
    from stillroom.policy import Policy
    from stillroom.ranker import BuildContext, ModelSpec, Ranker

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@hookspec
def stillroom_config_searchpath() -> Sequence[str]:
    """Return Hydra search-path entries for the configs this plugin ships.

    Each entry is a Hydra search path such as ``"pkg://my_product.conf"``; the
    folder holds the same groups as stillroom's own ``conf/`` (``product/``,
    ``teacher/``, ...). Called once before Hydra composes the config.
    Contribute-many: every plugin's entries are added.
    """


# --------------------------------------------------------------------------
# Policy and data
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def stillroom_load_policy(path: Path) -> Policy | None:
    """Load and validate the product policy document at ``path``.

    Return a :class:`stillroom.policy.Policy`, or ``None`` when this plugin does
    not read that kind of file. Raise :class:`stillroom.errors.StillroomError`
    naming the file, the field and what was expected when the file is invalid.
    firstresult: the first policy returned is used.
    """


@hookspec
def stillroom_data_sources() -> Sequence[DataSourceSpec]:
    """Contribute the data sources this plugin reads, each a :class:`~stillroom.data.DataSourceSpec`.

    The ``prepare`` stage asks the source ``data.name`` for the golden set, the unlabeled pool and the engagement
    log. A source serves the products its spec lists (none: every product). When a retrieval first stage chose
    the candidates, set the bundle's ``first_stage`` (:class:`~stillroom.data.FirstStage`: its name, k and
    recall@k on test) so the report shows the reranking ceiling; dev and test candidates should then be the first
    stage's top k and nothing else. Contribute-many: a plugin registered later replaces a source of the same name
    for the same product; errors and ``stillroom plugins`` list the names.
    """


@hookspec(firstresult=True)
def stillroom_render_pair(product: str, request: Mapping[str, Any], candidate: Mapping[str, Any]) -> tuple[str, str] | None:
    """Render a request and a candidate given as policy fields into the texts models read.

    The engine uses it for the policy's precedents, which the policy states as
    fields: the gate checks that the judge labels each of them right, and a
    prompted judge quotes them. Render exactly as the data source renders its
    pairs. Return ``(request_text, candidate_text)``, or ``None`` unless this
    plugin renders pairs for ``product``. firstresult.

    A precedent holds only the fields the policy declares (its front matter's
    ``fields``), so declare every field your text shows, even one no rule reads.
    A ``KeyError`` for a field a precedent lacks stops the run naming the plugin,
    the precedent and the field.
    """


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


@hookspec
def stillroom_models() -> Sequence[ModelSpec]:
    """Contribute the model families this plugin builds, each a :class:`~stillroom.ranker.ModelSpec`.

    A role's config (``judge``, ``teacher``, ``engagement_teacher``, ``student``) names its family in ``name``;
    the spec's ``build(role, model_config, context)`` makes the :class:`~stillroom.ranker.Ranker`. ``context``
    carries the label scale, the policy with its precedents rendered as pairs (for a judge that quotes them in a
    prompt) and, for a student, the trained teacher to initialise from (``None`` when the weights will be loaded
    from disk anyway). Contribute-many, merged by name: a plugin registered later replaces a built-in. Every
    role's name is checked against them before any stage runs, and errors and ``stillroom plugins`` list them.
    """


@hookspec(firstresult=True)
def stillroom_load_exported(directory: Path) -> Ranker | None:
    """Load the ranker that one of this plugin's models saved in ``directory`` (its ``save_pretrained``).

    ``stillroom score`` and the serving benchmark read an exported student
    this way, without the run's config. Recognise the folder by a file of your
    own (a settings JSON your ``save_pretrained`` writes) and return ``None``
    for any other folder. firstresult.
    """


@hookspec(firstresult=True)
def stillroom_build_baseline(name: str, model_config: Mapping[str, Any], context: BuildContext) -> Scorer | None:
    """Build the baseline ``name`` that ``evaluator.baselines`` lists (``"bm25"``, ``"zero_shot"``), or the
    reference ``"teacher_base"``.

    ``model_config`` is the teacher's config, so the plugin that builds that
    model family answers for its base models: ``zero_shot`` is the base of the
    served size (``context.served_base``) off the shelf, ``teacher_base`` the
    teacher's own base off the shelf, answered only where it is not the served
    one. Return a :class:`stillroom.baselines.Scorer`, or ``None`` unless this
    plugin provides ``name`` for that model. firstresult.
    """


# --------------------------------------------------------------------------
# Training and evaluation components
# --------------------------------------------------------------------------


@hookspec
def stillroom_losses() -> Sequence[LossSpec]:
    """Contribute loss terms that ``conf/loss`` can name and weight.

    Contribute-many. A later plugin's spec with the same name replaces an
    earlier one.
    """


@hookspec
def stillroom_evaluators() -> Sequence[Evaluator]:
    """Contribute evaluators that ``conf/evaluator`` can name.

    An evaluator is called with an :class:`~stillroom.evaluation.EvalInput`
    (one model on one golden split) and returns named results: return a
    metric measured on each request as a :class:`~stillroom.evaluation.PerRequest`
    and the report gives it an interval over requests and compares models on
    it with paired tests; a float is a figure without an interval; anything
    else goes to the model's details.

    Contribute-many. A later plugin's evaluator with the same name replaces an
    earlier one.
    """


@hookspec(firstresult=True)
def stillroom_build_loggers(
    logger_config: Mapping[str, Any], run_dir: Path, run_name: str
) -> list[Logger] | None:
    """Build the Lightning loggers that ``logger_config["name"]`` selects.

    Return a list (empty for "no logger"), or ``None`` unless this plugin knows
    the name. firstresult.
    """


# --------------------------------------------------------------------------
# Lifecycle observers (called on every plugin; return values are ignored)
# --------------------------------------------------------------------------


@hookspec
def stillroom_before_run(config: Mapping[str, Any], store: ArtifactStore) -> None:
    """Called once the run directory exists, before the first stage."""


@hookspec
def stillroom_before_stage(stage: str, store: ArtifactStore) -> None:
    """Called before ``stage`` runs (not when a completed stage is reused)."""


@hookspec
def stillroom_after_stage(stage: str, store: ArtifactStore, summary: Mapping[str, Any], reused: bool) -> None:
    """Called after ``stage`` ran, or was reused from an earlier run (``reused``)."""


@hookspec
def stillroom_after_run(config: Mapping[str, Any], store: ArtifactStore, report: Mapping[str, Any] | None) -> None:
    """Called when the run ends, also when it failed (``report`` is then ``None``).

    Loggers that hold a global run (wandb) finish it here, so that jobs of a
    Hydra multirun do not merge into one.
    """


# --------------------------------------------------------------------------
# Deprecated (0.2.0): still called, with a warning when a plugin implements one, until 0.3.0
# --------------------------------------------------------------------------

REPLACED_HOOKS = {
    "stillroom_build_model": "'stillroom_models' (a ModelSpec per model family)",
    "stillroom_model_names": "'stillroom_models' (a ModelSpec per model family)",
    "stillroom_data_source": "'stillroom_data_sources' (a DataSourceSpec per source, with the products it serves)",
}
"""Hooks of earlier versions, and what a plugin implements instead (CHANGELOG.md, 0.2.0)."""


def _replaced(hook: str) -> StillroomDeprecationWarning:
    """The warning pluggy gives (``warn_on_impl``) as a plugin implementing ``hook`` registers."""
    return StillroomDeprecationWarning(
        f"hook {hook!r} is replaced by {REPLACED_HOOKS[hook]}; the old form stops working in stillroom {REMOVED_IN}"
    )


@hookspec(firstresult=True, warn_on_impl=_replaced("stillroom_data_source"))
def stillroom_data_source(product: str, data_config: Mapping[str, Any], policy: Policy, seed: int) -> DataBundle | None:
    """Deprecated: contribute a :class:`~stillroom.data.DataSourceSpec` from ``stillroom_data_sources`` instead.

    The bundle for ``data_config["name"]`` and ``product``, or ``None``; asked only when no contributed source has
    that name. firstresult.
    """


@hookspec(warn_on_impl=_replaced("stillroom_model_names"))
def stillroom_model_names() -> Sequence[str]:
    """Deprecated: contribute a :class:`~stillroom.ranker.ModelSpec` per family from ``stillroom_models`` instead.

    The model names this plugin's ``stillroom_build_model`` builds. Contribute-many.
    """


@hookspec(firstresult=True, warn_on_impl=_replaced("stillroom_build_model"))
def stillroom_build_model(role: str, model_config: Mapping[str, Any], context: BuildContext) -> Ranker | None:
    """Deprecated: contribute a :class:`~stillroom.ranker.ModelSpec` from ``stillroom_models`` instead.

    The model for ``role`` when ``model_config["name"]`` is one of this plugin's ``stillroom_model_names``, else
    ``None``. firstresult.
    """
