"""Kill a run with SIGKILL partway through a stage, rerun the same command, and check nothing was lost.

    python benchmarks/kill_and_resume.py --out DIR [--stages finetune,label,distill,export] [--at 0.4] [OVERRIDE ...]

First one uninterrupted run (``DIR/baseline``). Then, for each stage, a run in
``DIR/kill-STAGE`` that is sent SIGKILL inside that stage (as soon as its first
checkpoint is on disk, or ``--at`` of the way through it by the baseline's
timing, 0.4 by default, whichever is first), and the same command again in the
same folder. The rerun must complete, resume the stage from its checkpoint when
it had one, and end with the baseline's report metrics,
to the last digit. It prints one row per stage and exits 1 on any difference.
Overrides default to ``product=jobs``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

STAGE_LINE = re.compile(r"\[stillroom\] (\S+): (running|unchanged|resuming)")


def command(run_dir: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "stillroom.cli", "run", *overrides, f"hydra.run.dir={run_dir}", "trainer.progress_bar=false"]


def run_to_end(run_dir: Path, overrides: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command(run_dir, overrides), capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{run_dir}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout


def run_and_kill(run_dir: Path, overrides: list[str], stage: str, after_s: float) -> tuple[str | None, bool]:
    """Start the run and SIGKILL it inside ``stage``; return the stage that was running then (``None``: never
    killed) and whether ``stage`` had a checkpoint on disk.

    The kill comes as soon as the stage's first checkpoint is on disk (a training stage: the rerun must
    resume from it), or ``after_s`` seconds after the stage starts, whichever is first.
    """
    process = subprocess.Popen(
        command(run_dir, overrides), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert process.stdout is not None
    running: list[str] = []  # the stages the run has started, in order

    def follow(lines: Iterable[str]) -> None:
        for line in lines:
            found = STAGE_LINE.search(line)
            if found and found[2] == "running":
                running.append(found[1])

    reader = threading.Thread(target=follow, args=(process.stdout,))
    reader.start()
    started = None
    while process.poll() is None:
        time.sleep(0.1)
        if started is None and stage in running:
            started = time.perf_counter()
        checkpointed = any((run_dir / stage / "checkpoints").glob("*/last.ckpt"))
        if started is not None and (checkpointed or time.perf_counter() - started >= after_s):
            process.send_signal(signal.SIGKILL)
            process.wait()
            reader.join()
            return running[-1], checkpointed
    reader.join()
    return None, False


def metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    report = json.loads((run_dir / "report" / "report.json").read_text())
    return {name: model["metrics"] for name, model in report["models"].items()}


def stage_seconds(run_dir: Path, stage: str) -> float:
    return float(json.loads((run_dir / stage / "_complete.json").read_text())["summary"]["seconds"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stages", default="finetune,label,distill,export")
    parser.add_argument("--at", type=float, default=0.4, help="when to kill a stage without checkpoints: this share of its baseline time")
    parser.add_argument("overrides", nargs="*", default=["product=jobs"])
    args = parser.parse_args(argv)
    baseline_dir = args.out / "baseline"
    seconds, _ = run_to_end(baseline_dir, args.overrides)
    expected = metrics(baseline_dir)
    print(f"baseline: {seconds:.0f}s, student ndcg@10 {expected['student']['ndcg@10']:.4f}")
    print("| kill aimed at | stage running when killed | rerun | stages reused | resumed from checkpoint | metrics equal |")
    print("|---|---|---|---|---|---|")
    failures = 0
    for stage in args.stages.split(","):
        run_dir = args.out / f"kill-{stage}"
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh folder: the stage must run, and be killed, for the rerun to prove anything
        after = stage_seconds(baseline_dir, stage) * args.at
        killed_in, checkpointed = run_and_kill(run_dir, args.overrides, stage, after)
        rerun_s, log = run_to_end(run_dir, args.overrides)
        events: dict[str, list[str]] = {}
        for name, event in STAGE_LINE.findall(log):
            events.setdefault(event, []).append(name)
        equal = metrics(run_dir) == expected
        resumed = stage in events.get("resuming", [])
        failures += not (killed_in == stage and equal and (resumed or not checkpointed))
        print(
            f"| {stage} | {killed_in or 'not killed: the run ended first'} | {rerun_s:.0f}s | {len(events.get('unchanged', []))} "
            f"| {', '.join(events.get('resuming', [])) or '-'} | {'yes' if equal else 'NO'} |"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
