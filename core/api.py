"""Everything a plugin may import, in one place: the hook marker, the types the hooks take and return, the helpers.

A name here is public: it keeps its meaning across minor releases, and is
deprecated before it is removed. Anything else in stillroom may move (the
engine's modules are rearranged between its rooms, ``docs/architecture.md``).
``docs/reference/plugin-reference.md`` documents each name, generated from the
docstrings here (:mod:`stillroom.plugin_reference`), and a test fails when a
hook takes or returns a stillroom type that is not here.

    from stillroom.api import DataBundle, DataSourceSpec, Pair, hookimpl
"""

from __future__ import annotations

from stillroom import hookimpl
from stillroom.artifacts import ArtifactStore
from stillroom.baselines import Scorer, ServesAsRanker
from stillroom.data import DataBundle, DataSourceSpec, FirstStage, Pair
from stillroom.errors import StillroomError
from stillroom.evaluation import EvalInput, Evaluator, PerRequest
from stillroom.features import FEATURES, CalibratesFusion, FusesPairFeatures, ReadsPairFeatures, pair_features
from stillroom.field_features import FieldFeature
from stillroom.losses import ENGAGEMENT, GOLDEN, HIDDEN, LISTS, NO_LABEL, RELEVANCE, TEACHER, LossSpec, LossTerm
from stillroom.plugin_manager import FailedPlugin, Plugins, get_plugin_manager
from stillroom.policy import Dimension, HardRule, Label, Policy, Precedent
from stillroom.policy.source import load_policy
from stillroom.ranker import (
    BuildContext,
    CachesCandidates,
    Exportable,
    HasHidden,
    HasInferenceForm,
    ModelSpec,
    Prunable,
    Ranker,
    ScoresInBulk,
)
from stillroom.retrieval import Bm25Index
from stillroom.synthetic import (
    SYNTHETIC,
    CatalogWorld,
    PolicyAnnotator,
    SyntheticProduct,
    SyntheticWorld,
    WorldSize,
    generate_bundle,
    package_yaml,
    require_dimensions,
    sigmoid,
)

HOOK_TYPES = (
    Policy,
    Label,
    Dimension,
    HardRule,
    Precedent,
    DataSourceSpec,
    DataBundle,
    Pair,
    FirstStage,
    FieldFeature,
    ModelSpec,
    BuildContext,
    Ranker,
    HasInferenceForm,
    HasHidden,
    Prunable,
    Exportable,
    CachesCandidates,
    ScoresInBulk,
    ReadsPairFeatures,
    FusesPairFeatures,
    CalibratesFusion,
    LossSpec,
    LossTerm,
    Evaluator,
    EvalInput,
    PerRequest,
    Scorer,
    ServesAsRanker,
    ArtifactStore,
)
"""The types the hooks take or return, and the types those hold, in the order the reference documents them."""

HELPERS = (SyntheticProduct, WorldSize, CatalogWorld, PolicyAnnotator, SyntheticWorld, Bm25Index, StillroomError, Plugins, FailedPlugin)
"""What a plugin builds with: a product whose data is a generated world, a BM25 index (a world's first stage), the
error that reports bad input, and the plugin manager a test asks whether its plugin loaded."""

FUNCTIONS = (generate_bundle, require_dimensions, package_yaml, sigmoid, get_plugin_manager, load_policy, pair_features)
"""A generated world's splits, the check that a world scores the dimensions its policy weighs, the vocabulary file
a world's package ships, the logistic curve a world's engagement follows, the process-wide plugin manager, the
policy loader a product's test reads its policy with, and the pair features the engine hands a model that reads
them."""

CONSTANTS = {
    "NO_LABEL": NO_LABEL,
    "RELEVANCE": RELEVANCE,
    "ENGAGEMENT": ENGAGEMENT,
    "GOLDEN": GOLDEN,
    "TEACHER": TEACHER,
    "LISTS": LISTS,
    "HIDDEN": HIDDEN,
    "FEATURES": FEATURES,
    "SYNTHETIC": SYNTHETIC,
}
"""The values a loss term's batch and a ``LossSpec``'s ``needs`` are keyed by (:mod:`stillroom.losses`), and the
names of the pair features a model may read (:mod:`stillroom.features`), and the data source name under which a
product offers its generated world (``data=synthetic``)."""

__all__ = ["hookimpl", *(t.__name__ for t in HOOK_TYPES), *(h.__name__ for h in HELPERS), *(f.__name__ for f in FUNCTIONS), *CONSTANTS]
