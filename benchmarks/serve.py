"""Serving throughput: the teacher, the student in torch and the student in onnxruntime, at batch 1, 32 and 256.

    python benchmarks/serve.py [--pairs 256] [--rounds 3] [--batch-sizes 1,32,256] [hydra overrides, e.g. student=two_tower]

The run config's teacher and student (jobs by default) are built from their
configs, the student from the teacher as ``distill`` builds it; throughput
does not depend on what the weights have learned. The student is exported to
ONNX in a temporary folder exactly as the ``export`` stage does. All models
are timed in this one process, on the same pairs (golden test, then the pool,
in file order: a member and its candidates, as serving sees them), on the
trainer's thread count (onnxruntime on as many threads as torch).

The rows: the teacher; the student in torch; the student in onnxruntime. A
student that caches candidates (the default late-interaction one) has two
torch rows: as it serves, its candidate cache warm (each candidate's side
computed once beforehand), and straight through (every pair computed whole:
the form that is exported to ONNX, which keeps no cache). Tokenization is left out of every timing, as
in the report's throughput. Each batch size's pass over the pairs is timed
``--rounds`` times, the models taking turns, and the best pass counts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from recipe_world import recipe_world

from stillroom.ranker import BuildContext, Ranker, available_models, build_model, export_form, for_inference
from stillroom.serving.onnx import ONNX_FILE, export_onnx
from stillroom.serving.score import OnnxSession
from stillroom.training.scoring import warm_up_batches

Features = dict[str, torch.Tensor]


def batches_of(ranker: Ranker, requests: Sequence[str], candidates: Sequence[str], batch_size: int) -> list[Features]:
    return [ranker.tokenize(requests[i : i + batch_size], candidates[i : i + batch_size]) for i in range(0, len(requests), batch_size)]


@torch.inference_mode()
def best_pass(forward: Callable[..., torch.Tensor], batches: list[Features], warm_up: Sequence[Features], best: float) -> float:
    """The seconds of one timed pass over ``batches`` after ``warm_up``, or ``best`` if that was faster."""
    for features in warm_up:
        forward(**features)
    start = time.perf_counter()
    for features in batches:
        forward(**features)
    return min(best, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256, help="pairs per timed pass (at least one batch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", type=lambda text: [int(b) for b in text.split(",")], default=[1, 32, 256], help="comma-separated")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the run config")
    args = parser.parse_args()

    world = recipe_world(args.overrides)
    config, plugins, policy, bundle = world.config, world.plugins, world.policy, world.bundle
    teacher = build_model(available_models(plugins), "teacher", config["teacher"], BuildContext(policy.num_labels))
    student = build_model(available_models(plugins), "student", config["student"], BuildContext(policy.num_labels, teacher))
    teacher, student = for_inference(teacher), for_inference(student)

    scratch = tempfile.TemporaryDirectory(prefix="stillroom-serve-")
    folder = Path(scratch.name)
    started = time.perf_counter()
    export_onnx(student, folder / ONNX_FILE)
    export_seconds = time.perf_counter() - started
    models: dict[str, tuple[Ranker, Callable[..., torch.Tensor]]] = {"teacher (torch)": (teacher, teacher)}
    if getattr(student, "caches_candidates", False):  # torch serves it from its cache; ONNX runs its straight-through form
        models["student (torch, candidate cache)"] = (student, student)
        models["student (torch, straight through)"] = (student, export_form(student))
    else:
        models["student (torch)"] = (student, student)
    models["student (onnxruntime)"] = (student, OnnxSession(folder / ONNX_FILE))

    pairs = (bundle.golden["test"] + bundle.pool)[: max(args.pairs, *args.batch_sizes)]
    if len(pairs) < max(args.pairs, *args.batch_sizes):
        parser.error(f"the world has {len(pairs)} test and pool pairs; ask for at most that many (--pairs, --batch-sizes)")
    requests, candidates = [p.request_text for p in pairs], [p.candidate_text for p in pairs]
    rates: dict[tuple[str, int], float] = {}
    for batch_size in args.batch_sizes:
        count = max(batch_size, args.pairs)
        best = dict.fromkeys(models, float("inf"))
        batches = {name: batches_of(ranker, requests[:count], candidates[:count], batch_size) for name, (ranker, _) in models.items()}
        for _ in range(args.rounds):
            for name, (ranker, forward) in models.items():
                warm_up = warm_up_batches(ranker, batches[name]) if forward is ranker else batches[name][:1]
                best[name] = best_pass(forward, batches[name], warm_up, best[name])
        rates.update({(name, batch_size): count / seconds for name, seconds in best.items()})

    print(
        f"teacher {config['teacher']['name']}, student {config['student']['name']} ({config['product']['name']}), "
        f"{torch.get_num_threads()} threads, best of {args.rounds} rounds; ONNX export took {export_seconds:.1f} s"
    )
    print("| model | " + " | ".join(f"batch {b}" for b in args.batch_sizes) + " |")
    print("|---|" + "---:|" * len(args.batch_sizes))
    for name in models:
        print(f"| {name} | " + " | ".join(f"{rates[name, b]:,.0f}" for b in args.batch_sizes) + " |")
    print("pairs per second, tokenization left out")
    scratch.cleanup()


if __name__ == "__main__":
    main()
