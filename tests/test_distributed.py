"""Data-parallel training and labeling on 2 CPU processes (DDP over gloo): shares of every batch, the same model
within a stated tolerance, the same labels exactly, and a worker's failure told as the main process would tell it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import stillroom.training.sampling as sampling
from stillroom.artifacts import ArtifactStore
from stillroom.config.schema import validate_config
from stillroom.data import Pair
from stillroom.errors import StillroomError
from stillroom.losses import WeightedTerm
from stillroom.plugins.losses import hard_label_ce
from stillroom.recipe.job import run_job
from stillroom.recipe.run import recipe_plan
from stillroom.training import NumericFault, fit
from stillroom.training.sampling import EpochBatchSampler, RequestBatchSampler
from stillroom.training.scoring import predict
from stillroom.training.strategies import check_strategy
from tests.helpers import TRAINER, FaultAt, compose_config, tiny_ranker, toy_items, train_config

DDP_CPU = {**TRAINER, "devices": 2, "strategy": "ddp_fork"}
TERMS = [WeightedTerm("hard_label_ce", 1.0, hard_label_ce())]
TRAIN = train_config(epochs=2, lr=3e-3, batch_size=16)


def _epoch(sampler: EpochBatchSampler, processes: int, monkeypatch: pytest.MonkeyPatch) -> list[list[list[int]]]:
    """Each process's batches of one epoch, as the processes of a group of ``processes`` draw them."""
    shares = []
    for rank in range(processes):
        monkeypatch.setattr(sampling, "process_rank", lambda rank=rank: (rank, processes))
        shares.append(list(sampler))
    assert all(len(share) == len(sampler) for share in shares)  # every process takes as many steps as it says
    return shares


def test_each_process_trains_an_equal_share_of_every_batch_and_together_the_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = EpochBatchSampler(size=41, batch_size=8, seed=3)
    alone = _epoch(sampler, 1, monkeypatch)[0]
    first, second = _epoch(sampler, 2, monkeypatch)
    assert len(first) == len(second) == len(alone) - 1  # the last batch of one row joins the one before it
    assert [sorted(a + b) for a, b in zip(first, second, strict=True)] == [sorted(b) for b in alone[:-2]] + [sorted(alone[-2] + alone[-1])]
    assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(first, second, strict=True))


def test_requests_larger_than_a_batch_stay_one_step_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request fills a batch of its own: two processes split the steps' rows, never merge the steps."""
    sampler = RequestBatchSampler([f"m{n // 20}" for n in range(200)], batch_size=16, seed=0)
    first, second = _epoch(sampler, 2, monkeypatch)
    assert len(first) == len(second) == 5 and all(len(a) + len(b) == 40 for a, b in zip(first, second, strict=True))


def test_too_little_data_for_the_processes_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "process_rank", lambda: (0, 2))
    with pytest.raises(StillroomError, match="1 training rows or requests cannot be shared among 2 processes"):
        list(RequestBatchSampler(["m0"] * 5, batch_size=16, seed=0))


def test_a_request_is_never_split_between_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = [f"m{n}" for n, size in enumerate([5, 3, 7, 2, 6, 4, 1, 5]) for _ in range(size)]
    sampler = RequestBatchSampler(requests, batch_size=12, seed=1)
    alone = _epoch(sampler, 1, monkeypatch)[0]
    first, second = _epoch(sampler, 2, monkeypatch)
    for a, b in zip(first, second, strict=True):
        assert a and b and not {requests[i] for i in a} & {requests[i] for i in b}
    assert sorted(i for share in first + second for i in share) == sorted(i for batch in alone for i in batch)


@pytest.mark.slow
@pytest.mark.distributed
def test_ddp_on_two_processes_trains_the_model_one_process_trains_within_1e_3() -> None:
    """Same batches, split in two: DDP's averaged gradient is the whole batch's, up to float rounding in the sum."""
    alone, together = tiny_ranker(), tiny_ranker()
    together.load_state_dict(alone.state_dict())
    train, dev = toy_items(96, seed=1), toy_items(32, seed=2)
    history_alone = fit(alone, TERMS, train, dev, TRAIN, TRAINER, [], seed=0)
    history_ddp = fit(together, TERMS, train, dev, TRAIN, DDP_CPU, [], seed=0)
    gap = max(float((a - b).abs().max()) for a, b in zip(alone.state_dict().values(), together.state_dict().values(), strict=True))
    assert 0 < gap < 1e-3, gap  # the weights came back from the workers, trained
    val = lambda rows: [row["val/ce"] for row in rows if "val/ce" in row]  # noqa: E731
    assert len(val(history_ddp)) == 2 and max(abs(a - b) for a, b in zip(val(history_alone), val(history_ddp), strict=True)) < 1e-3


@pytest.mark.slow
@pytest.mark.distributed
def test_labels_made_on_two_processes_equal_the_labels_one_process_makes() -> None:
    ranker = tiny_ranker().eval()
    pairs = [Pair(f"p{n}", f"m{n % 7}", f"c{n}", item.request_text * (1 + n % 3), item.candidate_text) for n, item in enumerate(toy_items(75, seed=4))]
    alone = predict(ranker, pairs, 2, TRAINER, batch_size=8, with_hidden=True)
    together = predict(ranker, pairs, 2, DDP_CPU, batch_size=8, with_hidden=True, distributed=True)
    assert alone.keys() == together.keys() == {"probs", "hidden"}
    assert all(torch.equal(alone[key], together[key]) for key in alone)


@pytest.mark.slow
@pytest.mark.distributed
def test_a_numeric_fault_in_a_worker_is_the_same_clear_error() -> None:
    terms = [*TERMS, WeightedTerm("wobbly", 0.5, FaultAt(3, float("nan")))]
    with pytest.raises(NumericFault, match=r"^finetune: loss term 'wobbly' is nan at step 3 \(epoch 0\)"):
        fit(tiny_ranker(), terms, toy_items(96, seed=1), [], TRAIN, DDP_CPU, [], seed=0, stage="finetune")


@pytest.mark.parametrize(
    ("strategy", "devices", "words"),
    [("ddp", 2, "strategy 'ddp' is not one stillroom runs"), ("auto", 2, "with strategy 'auto' lets Lightning relaunch"), ("fsdp", -1, "'fsdp'")],
)
def test_a_strategy_that_would_rerun_the_recipe_per_process_is_refused(strategy: str, devices: int, words: str) -> None:
    with pytest.raises(StillroomError, match=words) as error:
        check_strategy({**TRAINER, "strategy": strategy, "devices": devices})
    assert error.value.where == "trainer.strategy" and "ddp_fork" in error.value.message
    check_strategy({**TRAINER, "strategy": "ddp_fork", "devices": 2})
    check_strategy({**TRAINER, "strategy": "auto", "devices": 1})


def _label_parity_script():
    spec = importlib.util.spec_from_file_location("label_parity", Path(__file__).resolve().parents[1] / "benchmarks" / "label_parity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.distributed
def test_a_run_on_two_processes_writes_one_set_of_artifacts_one_wandb_run_and_the_labels_of_one_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config("experiment=smoke", "trainer=ddp_cpu", "logger=wandb")
    report = run_job(cfg, run_dir)
    assert json.loads((run_dir / "report" / "report.json").read_text())["models"]["student"]["metrics"] == report["models"]["student"]["metrics"]
    store = ArtifactStore(run_dir)
    assert all(store.completed_fingerprint(stage.name) for stage in recipe_plan(validate_config(cfg)).stages)
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    for stage in ("finetune", "distill"):  # the curves rank zero recorded in its worker came back
        assert any("val/ce" in row for row in store.read_jsonl(stage, "history.jsonl"))
    parity = _label_parity_script().relabel_on_one_process(run_dir, validate_config(cfg))
    assert set(parity) == {"pool/probs", "pool/hidden", "train/probs", "train/hidden"}
    assert all(row["identical"] and row["pairs"] > 0 for row in parity.values()), parity


def test_a_worker_error_of_several_lines_comes_back_whole_and_a_bug_stays_a_bug() -> None:
    from torch.multiprocessing import ProcessRaisedException

    from stillroom.training.distributed import user_error_from_worker

    def sent_back(last_lines: str) -> ProcessRaisedException:
        text = f"\n\n-- Process 1 terminated with the following error:\nTraceback (most recent call last):\n  File x\n{last_lines}"
        return ProcessRaisedException(text, 1, 99)

    rebuilt = user_error_from_worker(sent_back("stillroom.training.loop.NumericFault: finetune: loss term 'x' is nan\nsecond line"))
    assert isinstance(rebuilt, NumericFault) and str(rebuilt) == "finetune: loss term 'x' is nan\nsecond line"
    assert user_error_from_worker(sent_back("ValueError: bad\nstillroom: StillroomError: not really")) is None
