"""What a run prints: numbered stages with an estimate of what is left, plain progress lines off a terminal,
and none of the libraries' INFO logs or known warnings unless asked for."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import pytest

from stillroom.compat.lightning import EpochsCountedFromOne
from stillroom.recipe.quiet import quiet_libraries
from stillroom.recipe.timing import RunClock, earlier_seconds
from stillroom.training.progress import ProgressLines, duration, progress_callbacks, running_stage


@pytest.mark.parametrize(("seconds", "said"), [(4.6, "5s"), (190, "3m10s"), (3900, "1h05m")])
def test_durations_read_as_people_read_them(seconds: float, said: str) -> None:
    assert duration(seconds) == said


def _complete(folder: Path, stage: str, seconds: float, config: str = "same") -> None:
    (folder / stage).mkdir(parents=True)
    summary = {"seconds": seconds, "config_fingerprint": config}
    (folder / stage / "_complete.json").write_text(json.dumps({"fingerprint": "x", "outputs": {}, "summary": summary}))


def test_what_is_left_is_estimated_from_the_runs_beside_this_one_that_read_the_same_config(tmp_path: Path) -> None:
    for name, seconds in (("a", 100.0), ("b", 140.0), ("c", 120.0)):
        _complete(tmp_path / name, "distill", seconds)
    _complete(tmp_path / "smoke", "distill", 1.0, config="smaller")  # a smoke run beside them: not this run's composition
    _complete(tmp_path / "a", "report", 2.0)
    (tmp_path / "b" / "report").mkdir()  # begun, never completed: no figure
    this_run = tmp_path / "new"
    stages = ["prepare", "distill", "export", "report"]
    earlier = earlier_seconds(this_run, dict.fromkeys(stages, "same"))
    assert earlier == {"distill": 120.0, "report": 2.0}
    clock = RunClock(stages, earlier)
    assert clock.position("distill") == "stage 2/4"
    assert clock.left_after("prepare").endswith("about 2m02s left plus export (not timed before)")
    assert clock.left_after("report") == ""
    assert RunClock(["prepare", "export"], {}).left_after("prepare").endswith("no earlier run to estimate the rest from")
    assert earlier_seconds(this_run, {"distill": "smaller"}) == {"distill": 1.0}


class _Trainer:
    num_training_batches, max_epochs, current_epoch = 10, 2, 1
    num_predict_batches = [4]


def test_off_a_terminal_progress_is_a_plain_line_naming_the_stage_epoch_step_and_pace(capsys: pytest.CaptureFixture[str]) -> None:
    callbacks, bar = progress_callbacks({"progress_bar": True})  # pytest's stdout is not a terminal
    assert not bar and [type(c) for c in callbacks] == [ProgressLines]
    lines = ProgressLines(every=0.0)
    with running_stage("distill"):
        lines.on_train_start(_Trainer(), None)
        lines.on_train_batch_end(_Trainer(), None, None, {"input_ids": _Batch(64)}, 4)
    out = capsys.readouterr().out
    assert out.startswith("[stillroom] distill: epoch 2/2, step 5/10, ") and "pairs/s, about " in out and "\r" not in out


class _Batch:
    def __init__(self, rows: int) -> None:
        self.shape = (rows, 8)


def test_progress_is_off_when_the_trainer_config_says_so_and_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress_callbacks({"progress_bar": False}) == ([], False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    callbacks, bar = progress_callbacks({"progress_bar": True})
    assert bar and isinstance(callbacks[0], EpochsCountedFromOne)


def test_a_normal_run_keeps_library_info_and_known_warnings_out_and_verbose_keeps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "")
    monkeypatch.delenv("WANDB_SILENT")
    logging.getLogger("onnx_ir").setLevel(logging.INFO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_libraries(verbose=True)
        assert logging.getLogger("onnx_ir").getEffectiveLevel() == logging.INFO
        quiet_libraries(verbose=False)
        warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning, stacklevel=1)
        warnings.warn("There is a wandb run already in progress and newly created instances...", UserWarning, stacklevel=1)
        warnings.warn("something new", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something new"]  # a warning nobody listed is news
    assert logging.getLogger("onnx_ir").getEffectiveLevel() == logging.WARNING
    from transformers.utils import logging as transformers_logging

    assert transformers_logging.get_verbosity() == transformers_logging.ERROR
    assert os.environ["WANDB_SILENT"] == "true"


def test_dash_v_turns_verbose_on_without_naming_another_run_folder(capsys: pytest.CaptureFixture[str]) -> None:
    from hydra import compose, initialize_config_module

    from tests.helpers import run_cli

    assert run_cli(["run", "-v", "experiment=smoke", "--cfg", "job"]) == 0
    assert "verbose: true" in capsys.readouterr().out
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        hydra_config = compose(config_name="config", overrides=["verbose=true"], return_hydra_config=True).hydra
    assert "verbose" in hydra_config.job.config.override_dirname.exclude_keys
