"""How much stillroom's training loop costs over a bare PyTorch loop: the same model, batches and optimiser.

    python benchmarks/overhead.py [--pairs 1024] [--rounds 3] [hydra overrides, e.g. student=two_tower]

Both loops train the run's default student (the distill stage's model, built
from its teacher) on the same pairs of the jobs world with the distill stage's
loss terms, through the same DataLoader (same seed, same batches, tokenised by
the same collator), with AdamW and the same warm-up and cosine schedule.
stillroom's side is :func:`stillroom.training.fit`, Lightning and all; the bare
side is the loop a person would write by hand. Each round trains a fresh copy
of the model once in each loop, in turn; the best epoch of each counts.
Printed: pairs per second of each over one epoch (from the first batch to the
last step, set-up excluded), the ratio, and the whole ``fit()`` call with its
set-up for reference.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import lightning.pytorch as pl
import torch
from recipe_world import recipe_world
from torch.utils.data import DataLoader

from stillroom.losses import HIDDEN, WeightedTerm, available_losses, build_terms
from stillroom.ranker import BuildContext, Ranker, available_models, build_model
from stillroom.stages.training import hidden_widths
from stillroom.training import PairCollator, PairDataset, TargetShapes, TrainItem, fit, warmup_cosine


class EpochClock(pl.Callback):
    """Seconds of the first training epoch, from its start to its end (the loop's set-up left out)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.seconds:
            self.seconds = time.perf_counter() - self._start


def bare_loop(model: Ranker, terms: list[WeightedTerm], items: list[TrainItem], train: dict[str, Any], seed: int) -> float:
    """One epoch as a person writes it by hand; returns its seconds."""
    torch.manual_seed(seed)
    loader = DataLoader(
        PairDataset(items),
        batch_size=int(train["batch_size"]),
        shuffle=True,
        collate_fn=PairCollator(model, TargetShapes.of(items)),
        generator=torch.Generator().manual_seed(seed),
    )
    term_params = [p for t in terms if isinstance(t.term, torch.nn.Module) for p in t.term.parameters()]
    params = [p for p in model.parameters() if p.requires_grad] + term_params
    needs_hidden = any(HIDDEN in t.needs for t in terms)
    optimizer = torch.optim.AdamW(params, lr=float(train["lr"]), weight_decay=float(train.get("weight_decay", 0.0)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(len(loader), float(train.get("warmup_ratio", 0.1))))
    model.train()
    start = time.perf_counter()
    for batch in loader:
        if needs_hidden:
            logits, hidden = model.forward_with_hidden(**batch["features"])
            batch = {**batch, "student_hidden": hidden}
        else:
            logits = model(**batch["features"])
        loss = sum(term.weight * term.term(logits, batch) for term in terms)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the run config")
    args = parser.parse_args()

    world = recipe_world(args.overrides)
    config, plugins, policy, bundle = world.config, world.plugins, world.policy, world.bundle
    context = BuildContext(policy.num_labels)
    teacher = build_model(available_models(plugins), "teacher", config["teacher"], context)
    pairs = (bundle.pool + bundle.golden["train"])[: args.pairs]
    with torch.no_grad():
        _, hidden = teacher.forward_with_hidden(**teacher.tokenize([pairs[0].request_text], [pairs[0].candidate_text]))
    torch.manual_seed(0)  # the teacher's soft labels and hidden states: random (timing does not depend on them)
    items = [
        TrainItem(
            p.request_text,
            p.candidate_text,
            label=-1 if p.label is None else int(p.label),
            targets={"relevance": torch.distributions.Dirichlet(torch.ones(policy.num_labels)).sample()},
            hidden={"relevance": torch.randn(hidden.shape[-1])},
            request_id=p.request_id,
        )
        for p in pairs
    ]

    def fresh_student() -> Ranker:
        torch.manual_seed(config["seed"])
        return build_model(available_models(plugins), "student", config["student"], BuildContext(policy.num_labels, teacher))

    terms = build_terms(config["loss"]["distill"], available_losses(plugins), hidden_widths(fresh_student(), items))
    train = {**config["student"]["train"], "epochs": 1, "early_stopping_patience": None}
    trainer_config = {**config["trainer"], "progress_bar": False}
    best = {"stillroom": math.inf, "bare": math.inf, "fit() call": math.inf}
    for _ in range(args.rounds):
        clock = EpochClock()
        student = fresh_student()
        started = time.perf_counter()
        fit(student, terms, items, [], train, trainer_config, [], config["seed"], callbacks=[clock])
        best["fit() call"] = min(best["fit() call"], time.perf_counter() - started)
        best["stillroom"] = min(best["stillroom"], clock.seconds)
        best["bare"] = min(best["bare"], bare_loop(fresh_student(), terms, items, train, config["seed"]))
    rate = {name: len(items) / seconds for name, seconds in best.items()}
    print(f"student {config['student']['name']}, {len(items)} pairs, batch {train['batch_size']}, best of {args.rounds} rounds")
    print("| loop | pairs/s (training) |\n|---|---|")
    for name in ("bare", "stillroom", "fit() call"):
        print(f"| {name} | {rate[name]:,.0f} |")
    print(f"\nstillroom's training step runs at {rate['stillroom'] / rate['bare']:.1%} of the bare loop's throughput "
          f"({rate['fit() call'] / rate['bare']:.1%} counting fit()'s set-up)")


if __name__ == "__main__":
    main()
