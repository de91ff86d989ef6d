"""The `stillroom` command as a user runs it: a subprocess, a real Hydra app, real exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillroom.cli import main
from stillroom.errors import StillroomError
from tests.helpers import stillroom


@pytest.mark.slow
@pytest.mark.subprocess
def test_run_prints_the_table_logs_one_offline_wandb_run_and_no_file_of_the_run_holds_a_secret(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    secret = "wandb-key-0123456789abcdef"
    result = stillroom(
        "run", "experiment=smoke", "logger=wandb", f"hydra.run.dir={run_dir}",
        "+logger.api_key=${oc.env:WANDB_API_KEY}",  # masked for its name
        "+product.owner=${oc.env:WANDB_API_KEY}",  # masked for its value
        "trainer.progress_bar=true",  # off a terminal: plain progress lines, never a bar's carriage returns
        cwd=tmp_path, env={"WANDB_API_KEY": secret},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| model | params | pairs/s | ndcg@10" in result.stdout
    before_the_table = (result.stdout.split("\n| model |")[0] + result.stderr).splitlines()
    chatter = [line for line in before_the_table if line.strip() and not line.startswith("[stillroom]")]
    assert chatter == [], chatter  # no library INFO log, known warning or wandb line
    assert "[stillroom] stage 1/" in result.stdout and "\r" not in result.stdout + result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("[stillroom] wandb: offline run in ")]
    last = result.stdout.strip().splitlines()[-4:]  # after wandb's line: the compliance check, the verdict, what to do
    verdict = next(index for index, line in enumerate(last) if line.startswith("Verdict: "))
    assert last[verdict - 1].startswith("compliance: ") and last[-1].startswith("score with it") and "--model " in last[-1]
    assert f"run directory: {run_dir}" in result.stdout
    assert json.loads((run_dir / "report" / "report.json").read_text())["product"] == "jobs"
    assert not (tmp_path / "outputs").exists()  # nothing outside hydra.run.dir
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb"))
    saved = [path for path in run_dir.rglob("*") if path.is_file()]
    assert any(path.name == "manifest.json" for path in saved) and any(path.name == "config.yaml" for path in saved)
    assert [path for path in saved if secret.encode() in path.read_bytes()] == []


@pytest.mark.parametrize("overrides", [["product=widget"], ["-m", "product=jobs,widget"]])
def test_an_unknown_product_is_answered_with_the_products_that_exist(overrides: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", *overrides]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "stillroom: error: product: no product named 'widget'; products: feed, jobs, search"


def test_a_product_on_the_command_lines_search_path_is_a_known_product(tmp_path: Path) -> None:
    from stillroom.cli.overrides import check_overrides
    from stillroom.plugin_manager import get_plugin_manager

    (tmp_path / "product").mkdir()
    (tmp_path / "product" / "widgets.yaml").write_text("name: widgets\n")
    check_overrides(get_plugin_manager(), [f"hydra.searchpath=[file://{tmp_path}]", "product=widgets"])
    with pytest.raises(StillroomError, match="no product named 'widgets'"):
        check_overrides(get_plugin_manager(), ["product=widgets"])


def test_wandbs_environment_wins_over_the_configs_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from stillroom.plugins.loggers import wandb_settings

    config = {"name": "wandb", "project": "stillroom", "mode": "offline", "group": "jobs"}
    for variable in ("WANDB_MODE", "WANDB_PROJECT", "WANDB_RUN_GROUP"):
        monkeypatch.delenv(variable, raising=False)
    assert wandb_settings(config) == {"mode": "offline", "project": "stillroom", "group": "jobs"}
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_PROJECT", "team")
    assert wandb_settings(config) == {"mode": "disabled", "project": "team", "group": "jobs"}


@pytest.mark.slow
@pytest.mark.subprocess
def test_wandb_mode_disabled_in_the_environment_turns_wandb_off(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = stillroom("run", "experiment=smoke", "logger=wandb", f"hydra.run.dir={run_dir}", cwd=tmp_path, env={"WANDB_MODE": "disabled"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run_dir / "wandb").exists() and "[stillroom] wandb:" not in result.stdout
