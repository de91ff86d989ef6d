"""How far the free scorers go together: BM25 and off-the-shelf encoders fused, on a finished run's golden test.

    python benchmarks/free_fusions.py --run RUN_DIR --model NAME=FOLDER [--model NAME=FOLDER ...]

A teacher is worth distilling only where it ranks better than what a team can
ship without training anything. ``hybrid`` fuses the first stage with the
served base; a team could also fuse a bigger encoder, or several. This reads
the lists a run prepared (``RUN_DIR/prepare/{train,test}.jsonl``, each pair
with the first stage's score), scores them with the run's served base
(``served_base``) and each ``--model`` folder as ``zero_shot`` scores them
(the mean-pooled cosine), and for every combination of two or more scorers
fits a fusion on golden train's lists as the first stage served them (ranx's
weighted sum over min-max normalised scores, as ``hybrid`` fuses) and prints
its NDCG@k on golden test with its paired gain over the first stage fused
with the served base alone. A request without a relevant candidate counts as
0, as in the report.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import torch
from base_models import named_folder

from stillroom.baselines import ranking_scores
from stillroom.data import Pair
from stillroom.evaluation import EvalInput, PerRequest
from stillroom.evaluation.fusion import fit_fusion
from stillroom.evaluation.significance import IntervalSettings, paired_difference, verdict
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.evaluators.ranking import RankingEvaluator
from stillroom.policy.gate import FREE_MODEL
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext

FIRST_STAGE = "first_stage"
SERVED = "served_base"


def read_pairs(run: Path, split: str) -> list[Pair]:
    """The split's pairs the first stage chose (a judged document it missed has no score to fuse)."""
    lines = (run / "prepare" / f"{split}.jsonl").open(encoding="utf-8")
    return [pair for pair in (Pair.from_row(json.loads(line)) for line in lines) if pair.first_stage_score is not None]


def encoder_scores(model_config: dict, pairs: list[Pair], num_labels: int) -> torch.Tensor:
    scorer = get_plugin_manager().hook.stillroom_build_baseline(name=FREE_MODEL, model_config=model_config, context=BuildContext(num_labels))
    return ranking_scores(scorer, pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder (its manifest.json and prepare/), with first-stage scores")
    parser.add_argument("--model", type=named_folder, action="append", default=[], metavar="NAME=FOLDER")
    args = parser.parse_args()

    config = json.loads((args.run / "manifest.json").read_text(encoding="utf-8"))["config"]
    policy = load_policy(config["product"]["policy"], get_plugin_manager())
    k, settings = int(config["evaluator"]["k"]), IntervalSettings.of_run(config)
    splits = {split: read_pairs(args.run, split) for split in ("train", "test")}
    if not splits["train"] or not splits["test"]:
        raise SystemExit(f"{args.run}: expected golden train and test pairs with first_stage_score in prepare/")
    folders = {SERVED: config["served_base"], **dict(args.model)}
    scores: dict[str, dict[str, torch.Tensor]] = {name: {} for name in [FIRST_STAGE, *folders]}
    for split, pairs in splits.items():
        scores[FIRST_STAGE][split] = torch.tensor([pair.first_stage_score for pair in pairs])
        for name, folder in folders.items():
            model_config = {**config["teacher"], "pretrained": folder, "tokenizer": folder}
            scores[name][split] = encoder_scores(model_config, pairs, len(policy.labels))

    def ndcg(test_scores: torch.Tensor) -> PerRequest:
        found = RankingEvaluator()(EvalInput(pairs=splits["test"], probs=None, policy=policy, k=k, ranking_scores=test_scores))
        return found[f"ndcg@{k}"]

    def fused(names: tuple[str, ...]) -> tuple[PerRequest, tuple[float, ...]]:
        if len(names) == 1:
            return ndcg(scores[names[0]]["test"]), (1.0,)
        fusion = fit_fusion(splits["train"], [scores[n]["train"] for n in names], f"ndcg@{k}")
        return ndcg(fusion.apply(splits["test"], [scores[n]["test"] for n in names])), fusion.weights

    hybrid, _ = fused((FIRST_STAGE, SERVED))
    requests = list(hybrid.values)
    hybrid_column, weights = hybrid.columns(requests)
    print(f"| scorers | weights (fitted on golden train) | ndcg@{k} | − {FIRST_STAGE} + {SERVED} |")
    print("|---|---|---|---|")
    names = list(scores)
    for size in range(1, len(names) + 1):
        for combination in itertools.combinations(names, size):
            found, fitted = fused(combination)
            gain = paired_difference(found.columns(requests)[0], hybrid_column, weights, settings)
            low, high = gain.ci
            share = ", ".join(f"{w:.2f}" for w in fitted)
            print(
                f"| {' + '.join(combination)} | {share} | {found.figure:.3f} | {gain.difference:+.3f} [{low:+.3f}, {high:+.3f}] {verdict(gain.ci)} |"
            )


if __name__ == "__main__":
    main()
