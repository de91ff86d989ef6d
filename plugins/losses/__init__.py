"""Built-in loss terms, each selectable by name in ``conf/loss`` and combinable with weights.

Pointwise (:mod:`.pointwise`): ``soft_label_kl``, ``logit_mse``,
``hard_label_ce``. Ranking over a request's candidates (:mod:`.ranking`):
``listnet``, ``ranknet``, ``margin_mse``. Representation (:mod:`.hidden`):
``hidden_mse``. Terms that read a teacher take ``teacher`` (default
``relevance``), so a recipe with several teachers weights each one's objective.
"""

from __future__ import annotations

from stillroom import hookimpl
from stillroom.losses import HIDDEN, LISTS, TEACHER, LossSpec
from stillroom.plugins.losses.hidden import HiddenStateMSE
from stillroom.plugins.losses.pointwise import hard_label_ce, logit_mse, soft_label_kl
from stillroom.plugins.losses.ranking import listnet, margin_mse, ranknet

TEACHER_LISTS = frozenset({TEACHER, LISTS})


@hookimpl
def stillroom_losses() -> list[LossSpec]:
    return [
        LossSpec("soft_label_kl", soft_label_kl, frozenset({TEACHER}), "KL to a teacher's label distribution at temperature T, T^2-scaled"),
        LossSpec("logit_mse", logit_mse, frozenset({TEACHER}), "MSE between centred student and teacher logits"),
        LossSpec("hard_label_ce", hard_label_ce, frozenset(), "cross-entropy on golden labels"),
        LossSpec("listnet", listnet, TEACHER_LISTS, "listwise KL over a request's candidates (ListNet)"),
        LossSpec("ranknet", ranknet, TEACHER_LISTS, "pairwise KL to the teacher's soft preferences (RankNet)"),
        LossSpec("margin_mse", margin_mse, TEACHER_LISTS, "MSE of signed score margins, positive minus negative (Margin-MSE)"),
        LossSpec("hidden_mse", HiddenStateMSE, frozenset({TEACHER, HIDDEN}), "MSE to the teacher's pooled hidden state through a learned projection"),
    ]
