"""Which encoder to start from: candidate base models off the shelf on a finished run's golden split, each paired with the run's own.

    python benchmarks/base_models.py --run RUN_DIR --model NAME=FOLDER [--model NAME=FOLDER ...] [--split test]

A teacher starts where its base model is (the similarity prior), so a base
model that ranks better off the shelf is a head start the recipe keeps. This
reads the golden split a run prepared (``RUN_DIR/prepare/SPLIT.jsonl``), scores
it with each encoder folder as ``zero_shot`` scores it (the mean-pooled cosine,
at the run's ``teacher.max_length``), and prints each one's NDCG@k with its
gain over the run's own base model, paired over requests with the run's
interval settings, and the seconds it took to score the split on this
machine. A folder is a sentence-transformers model saved for transformers
(config.json, the weights, the tokenizer), read with ``local_files_only``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from stillroom.baselines import ranking_scores
from stillroom.data import Pair
from stillroom.evaluation import EvalInput, PerRequest
from stillroom.evaluation.significance import IntervalSettings, paired_difference, verdict
from stillroom.plugin_manager import get_plugin_manager
from stillroom.plugins.evaluators.ranking import RankingEvaluator
from stillroom.policy.gate import FREE_MODEL
from stillroom.policy.source import load_policy
from stillroom.ranker import BuildContext


def named_folder(text: str) -> tuple[str, str]:
    name, separator, folder = text.partition("=")
    if not separator or not name or not folder:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER, got {text!r}")
    return name, folder


def ndcg_per_request(model_config: dict, pairs: list[Pair], inputs: dict) -> tuple[PerRequest, float]:
    """One base model's NDCG@k per request on ``pairs``, built as the run builds ``zero_shot`` from a teacher config, and the seconds it took."""
    torch.manual_seed(inputs["seed"])  # a base built from sizes starts from the run's random weights
    scorer = get_plugin_manager().hook.stillroom_build_baseline(name=FREE_MODEL, model_config=model_config, context=BuildContext(inputs["num_labels"]))
    started = time.perf_counter()
    scores = ranking_scores(scorer, pairs)
    seconds = time.perf_counter() - started
    found = RankingEvaluator()(EvalInput(pairs=pairs, probs=None, policy=inputs["policy"], k=inputs["k"], ranking_scores=scores))
    return found[f"ndcg@{inputs['k']}"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished run's folder (its manifest.json and prepare/)")
    parser.add_argument("--model", type=named_folder, action="append", required=True, metavar="NAME=FOLDER")
    parser.add_argument("--split", default="test", choices=("dev", "test"))
    args = parser.parse_args()

    config = json.loads((args.run / "manifest.json").read_text(encoding="utf-8"))["config"]
    policy = load_policy(config["product"]["policy"], get_plugin_manager())
    pairs = [Pair.from_row(json.loads(line)) for line in (args.run / "prepare" / f"{args.split}.jsonl").open(encoding="utf-8")]
    k = int(config["evaluator"]["k"])
    inputs = {"policy": policy, "k": k, "num_labels": len(policy.labels), "seed": int(config["seed"])}
    settings = IntervalSettings.of_run(config)

    base, base_seconds = ndcg_per_request(config["teacher"], pairs, inputs)
    requests = list(base.values)
    base_column, weights = base.columns(requests)
    print(f"| base model | ndcg@{k} | − the run's base ({config['teacher'].get('pretrained') or 'built from sizes'}) | seconds to score {len(pairs)} pairs |")
    print("|---|---|---|---|")
    print(f"| the run's base | {base.figure:.3f} | — | {base_seconds:.0f} |")
    for name, folder in args.model:
        found, seconds = ndcg_per_request({**config["teacher"], "pretrained": folder, "tokenizer": folder}, pairs, inputs)
        gain = paired_difference(found.columns(requests)[0], base_column, weights, settings)
        low, high = gain.ci
        print(f"| {name} | {found.figure:.3f} | {gain.difference:+.3f} [{low:+.3f}, {high:+.3f}] {verdict(gain.ci)} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
