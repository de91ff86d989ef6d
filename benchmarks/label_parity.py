"""Whether a run's soft labels are the labels one process makes: relabel with the run's own labeler, compare bit for bit.

    python benchmarks/label_parity.py RUN_DIR

Reads the run's config (``RUN_DIR/.hydra/config.yaml``) and its trained
labeler (the ``label`` stage's teacher), scores the pool and golden train
again on one process (``trainer=cpu``'s settings), and compares every
probability, and every hidden state where the run recorded them, with what
the run's ``label`` stage wrote. Printed: per split and tensor, the pairs, the
largest difference and whether the two are identical.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from stillroom.artifacts import ArtifactStore
from stillroom.config.schema import validate_config
from stillroom.plugin_manager import get_plugin_manager
from stillroom.policy.source import load_policy
from stillroom.recipe.run import run_context
from stillroom.stages.contracts import hidden_states, soft_labels
from stillroom.stages.labeling import label_outputs, read_soft_labels
from stillroom.stages.training import LABELED_SPLITS
from stillroom.training.scoring import has_hidden

ONE_PROCESS = {"devices": 1, "strategy": "auto"}


def relabel_on_one_process(run_dir: Path, config: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per split and tensor (``pool/probs``, ``train/hidden``...): pairs, largest absolute difference, identical or not.

    ``config`` is the run's resolved config; by default the one Hydra saved in the run folder.
    """
    config = dict(config or validate_config(OmegaConf.load(run_dir / ".hydra" / "config.yaml")))
    config["trainer"] = {**config["trainer"], **ONE_PROCESS}
    torch.set_num_threads(int(config["trainer"]["num_threads"]))
    plugins = get_plugin_manager()
    store = ArtifactStore(run_dir)
    ctx = run_context(config, store, load_policy(config["product"]["policy"], plugins), plugins)
    model = ctx.load_model("teacher")
    recorded = {"probs": read_soft_labels(ctx.io, soft_labels("teacher"), ctx.policy)}
    if has_hidden(model):
        recorded["hidden"] = ctx.io.read_tensors(hidden_states("teacher"))
    results = {}
    for split in LABELED_SPLITS:
        again = label_outputs(ctx, "teacher", model, ctx.pairs(split), with_hidden=has_hidden(model))
        for name, tensors in recorded.items():
            ran, now = tensors[split], again[name]
            results[f"{split}/{name}"] = {
                "pairs": int(ran.shape[0]),
                "max_abs_diff": float((ran - now).abs().max()) if ran.numel() else 0.0,
                "identical": bool(torch.equal(ran, now)),
            }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args()
    print("| labels | pairs | largest difference | identical |\n|---|---:|---:|---|")
    for name, row in relabel_on_one_process(args.run_dir).items():
        print(f"| {name} | {row['pairs']:,} | {row['max_abs_diff']:.1e} | {'yes' if row['identical'] else 'no'} |")


if __name__ == "__main__":
    main()
