"""Training that survives being stopped: checkpoints, exact resumes, numeric faults, nothing unpickled.

Each test trains the tiny teacher for a few epochs (7 batches each) and stops
it on purpose: SIGTERM mid-epoch or on an epoch's last batch, a crash, a NaN.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch

from stillroom.errors import RunInterrupted, StillroomError
from stillroom.losses import WeightedTerm
from stillroom.plugins.losses import hard_label_ce
from stillroom.training import NumericFault, fit
from stillroom.training.checkpoints import CHECKPOINT_FILE
from tests.helpers import TRAINER, FaultAt, Payload, run_cli, tiny_ranker, toy_items, train_config

BATCHES_PER_EPOCH = 7  # 100 pairs in batches of 16
TRAIN = train_config(epochs=3, lr=3e-3, batch_size=16)
EARLY_STOPPING = {**TRAIN, "epochs": 4, "early_stopping_patience": 1}


class Crash(Exception):
    """Stands in for a SIGKILL: the process stops between two steps and saves nothing more."""


class StopAt(pl.Callback):
    def __init__(self, step: int, stop: Callable[[], None]) -> None:
        self.step, self.stop = step, stop

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            self.stop()


class CountBatches(pl.Callback):
    def __init__(self) -> None:
        self.trained = 0

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.trained += 1


def sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # Lightning's handler asks the loop to stop after this step


def crash() -> None:
    raise Crash


def train(train_config: Mapping[str, Any], checkpoints: Path | None = None, callbacks=(), terms=None):
    torch.manual_seed(0)
    ranker = tiny_ranker()
    terms = terms or [WeightedTerm("hard_label_ce", 1.0, hard_label_ce())]
    history = fit(
        ranker, terms, toy_items(100, seed=1), toy_items(32, seed=2), train_config, TRAINER, [], seed=0,
        callbacks=callbacks, checkpoints=checkpoints, stage="finetune",
    )
    return ranker.state_dict(), history


@pytest.fixture(scope="module")
def uninterrupted() -> dict[str, tuple[dict[str, torch.Tensor], list[dict[str, float]]]]:
    return {"plain": train(TRAIN), "early_stopping": train(EARLY_STOPPING)}


@pytest.mark.parametrize(
    ("config", "step", "stop", "expected"),
    [
        ("plain", 10, sigterm, RunInterrupted),  # mid-epoch: the checkpoint is saved where it stopped
        ("plain", 2 * BATCHES_PER_EPOCH, sigterm, RunInterrupted),  # the epoch's last batch, after its validation
        ("plain", 10, crash, Crash),  # no chance to save: resumes from the end of the first epoch
        ("early_stopping", 10, sigterm, RunInterrupted),
    ],
)
def test_a_resumed_fit_ends_exactly_where_the_uninterrupted_one_does(
    tmp_path: Path, uninterrupted, config: str, step: int, stop: Callable[[], None], expected: type[BaseException]
) -> None:
    train_config = TRAIN if config == "plain" else EARLY_STOPPING
    with pytest.raises(expected) as stopped:
        train(train_config, tmp_path, [StopAt(step, stop)])
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    if expected is RunInterrupted:
        assert f"finetune: stopped by SIGTERM at step {step}" in str(stopped.value) and "Rerun the same command" in str(stopped.value)
    counted = CountBatches()
    weights, history = train(train_config, tmp_path, [counted])
    want_weights, want_history = uninterrupted[config]
    resumed_at = step if expected is RunInterrupted else step - step % BATCHES_PER_EPOCH  # a crash: the last epoch's end
    assert counted.trained == max(row["step"] for row in want_history) - resumed_at  # it resumed; it did not start over
    assert history == want_history  # every step's loss and every epoch's dev loss
    assert all(torch.equal(weights[name], want_weights[name]) for name in want_weights)


def test_fits_with_and_without_checkpoints_train_alike(tmp_path: Path, uninterrupted) -> None:
    weights, history = train(TRAIN, tmp_path)
    assert history == uninterrupted["plain"][1]
    assert all(torch.equal(weights[name], value) for name, value in uninterrupted["plain"][0].items())


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_naming_stage_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path: Path, value: float) -> None:
    terms = [WeightedTerm("hard_label_ce", 1.0, hard_label_ce()), WeightedTerm("wobbly", 0.5, FaultAt(9, value))]
    with pytest.raises(NumericFault) as fault:
        train(TRAIN, tmp_path, terms=terms)
    message = str(fault.value)
    assert message.startswith("finetune: loss term 'wobbly' is") and f"{value} at step 9 (epoch 1)" in message
    assert f"the last good checkpoint stays: {tmp_path / CHECKPOINT_FILE}" in message
    checkpoint = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert checkpoint["global_step"] == BATCHES_PER_EPOCH  # the end of the first epoch, not the faulty step
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values())


@pytest.mark.parametrize("writer", [pickle.dump, torch.save], ids=["pickle", "torch.save"])
def test_a_pickled_payload_in_place_of_a_checkpoint_is_refused_not_executed(tmp_path: Path, writer) -> None:
    marker = tmp_path / "executed.txt"
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    with (checkpoints / CHECKPOINT_FILE).open("wb") as handle:
        writer({"state_dict": Payload(marker)}, handle)
    with pytest.raises(StillroomError) as refused:
        train(TRAIN, checkpoints)
    assert not marker.exists()
    assert str(refused.value).startswith(f"{checkpoints / CHECKPOINT_FILE}: not a checkpoint of tensors and plain values")
    assert "Delete it" in str(refused.value)


# -- whole runs ----------------------------------------------------------------------


def _run() -> int:
    """``stillroom run experiment=smoke logger=csv``, in the command's own folder."""
    return run_cli(["run", "experiment=smoke", "logger=csv"])


def _metrics(run_dir: Path) -> tuple[int, dict[str, dict[str, float]]]:
    import json

    report = json.loads((run_dir / "report" / "report.json").read_text())
    return report["seed"], {name: model["metrics"] for name, model in report["models"].items()}


@pytest.mark.slow
def test_a_run_stopped_mid_distill_resumes_and_ends_with_the_metrics_of_an_uninterrupted_run(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command as the session's smoke run (same seed, config and machine), stopped and run again."""
    import sys

    import stillroom.stages.training as stage_training

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    seed, expected = _metrics(smoke_run)
    assert seed == 7

    def fit_stopped_in_distill(*args: Any, stage: str = "train", **kwargs: Any):
        callbacks = [StopAt(1, sigterm)] if stage == "distill" else []
        return fit(*args, stage=stage, callbacks=callbacks, **kwargs)

    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "outputs" / "jobs" / "experiment=smoke,logger=csv"  # the same command, the same folder
    with monkeypatch.context() as patched:
        patched.setattr(stage_training, "fit", fit_stopped_in_distill)
        assert _run() == RunInterrupted.exit_code
    assert "distill: stopped by SIGTERM at step 1" in capsys.readouterr().err
    assert list((run_dir / "distill" / "checkpoints").glob(f"*/{CHECKPOINT_FILE}"))
    assert _run() == 0
    log = capsys.readouterr().out
    assert "label: unchanged" in log and "[stillroom] distill: resuming from" in log
    assert _metrics(run_dir) == (seed, expected)  # the same seed, config and machine: the same metrics
    assert not (run_dir / "distill" / "checkpoints").exists()  # a completed stage keeps no checkpoints
    assert (run_dir / "csv" / "student" / "metrics.csv").is_file()  # the csv logger, through the stop and the resume


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_second_command_on_a_busy_run_folder_refuses_at_once_naming_the_first(tmp_path: Path) -> None:
    """The first holds the folder (a child process, as another terminal would); the second `stillroom run` stops at once."""
    import subprocess
    import sys
    import time

    from stillroom.recipe.lock import LOCK_FILE
    from tests.helpers import stillroom

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from stillroom.recipe.lock import run_folder_lock\n"
         f"with run_folder_lock(Path({str(tmp_path)!r})):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        second = stillroom("run", "experiment=smoke", f"hydra.run.dir={tmp_path}", cwd=tmp_path)
        assert second.returncode == 2 and time.perf_counter() - started < 60
        assert f"another stillroom command is running in this run folder (pid {holder.pid}:" in second.stderr
        assert not (tmp_path / "prepare").exists() and (tmp_path / LOCK_FILE).is_file()  # the first's folder stays
        holder.poll()
        assert holder.returncode is None
    finally:
        holder.kill()
        holder.wait()


def test_a_sigterm_outside_training_names_the_stage_and_how_to_resume(smoke_run: Path, tmp_path: Path, register_plugin) -> None:
    import shutil

    from stillroom import hookimpl
    from stillroom.recipe.job import run_job
    from tests.helpers import SMOKE_RUN, compose_config

    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)

    class TermAfterLabel:
        @hookimpl
        def stillroom_after_stage(self, stage: str) -> None:
            if stage == "label":
                os.kill(os.getpid(), signal.SIGTERM)

    register_plugin(TermAfterLabel())
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RunInterrupted, match="label: stopped by SIGTERM. Rerun the same command to resume"):
        run_job(compose_config(*SMOKE_RUN), run_dir)
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is the run's alone


@pytest.mark.slow
def test_a_rerun_a_gate_stops_leaves_no_earlier_report_or_export_and_keeps_the_gates_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same folder, run again with a stricter gate: the old report's verdict must not survive beside the failure."""
    from stillroom.testing import run_tiny_recipe

    run_dir = tmp_path / "run"
    run_tiny_recipe("jobs", run_dir)
    assert (run_dir / "report" / "report.md").exists() and (run_dir / "export" / "_complete.json").exists()
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    status = run_cli(["run", "product=jobs", "experiment=smoke", "gate.min_kappa=0.99", f"hydra.run.dir={run_dir}"])
    assert status == 3, capsys.readouterr().err
    assert not (run_dir / "report" / "report.md").exists() and not (run_dir / "export" / "_complete.json").exists()
    assert (run_dir / "evaluate" / "_complete.json").exists()  # the same models' figures: the gate's bound does not change them
    gate = json.loads((run_dir / "gate" / "gate.json").read_text())
    assert gate["passed"] is False and gate["min_kappa"] == 0.99
    assert (run_dir / "finetune" / "_complete.json").exists()  # upstream of the gate: still reusable

    # A new world (prepare and finetune run again) and the same stop: the old models' figures go too.
    status = run_cli(["run", "product=jobs", "experiment=smoke", "gate.min_kappa=0.99", "data.train_requests=7", f"hydra.run.dir={run_dir}"])
    assert status == 3 and not (run_dir / "evaluate" / "_complete.json").exists()
    assert not (run_dir / "distill" / "_complete.json").exists() and (run_dir / "finetune" / "_complete.json").exists()
