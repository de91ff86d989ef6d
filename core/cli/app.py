"""The Hydra application behind ``stillroom run``.

Hydra never changes the working directory here; every output goes under
``${hydra:runtime.output_dir}`` (set it with ``hydra.run.dir=DIR``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from stillroom.config.precedence import check_product_config
from stillroom.config.secrets import scrub_hydra_output, scrub_secrets
from stillroom.errors import (
    BROKEN_DECLARATION_EXIT_CODE,
    GATE_EXIT_CODE,
    GATE_FAILED_FILE,
    USAGE_EXIT_CODE,
    BrokenDeclaration,
    GateFailed,
    RunInterrupted,
    StillroomError,
    report_error,
)
from stillroom.files import write_json
from stillroom.recipe.job import run_job
from stillroom.recipe.lock import LOCK_FILE, RunFolderBusy, run_folder_lock
from stillroom.stages import report as report_stage

RUN_NAME_MAX = 80


def run_name(overrides: str) -> str:
    """The run folder's name for a command's overrides (``seed=3,student=small``): the same command, the same folder.

    ``default`` without overrides. Secrets are masked (:mod:`stillroom.config.secrets`); when the name
    had to change (a secret, a character a path should not hold, a long list), the overrides'
    hash ends it, so that two commands never share a folder.
    """
    if not overrides:
        return "default"
    masked = ",".join(scrub_secrets(overrides.split(",")))
    safe = re.sub(r"[^\w.,=+-]+", "_", masked)
    if safe == overrides and len(safe) <= RUN_NAME_MAX:
        return safe
    return f"{safe[: RUN_NAME_MAX - 13]}-{hashlib.sha256(overrides.encode()).hexdigest()[:12]}"


OmegaConf.register_new_resolver("run_name", run_name, replace=True)


def remove_if_untouched(run_dir: Path) -> None:
    """Remove a run folder the failed run left holding only Hydra's own records (``.hydra/``, the log) and the
    lock: bad input found before the first stage leaves nothing behind. A folder with any stage's files stays, and
    so does one another command holds (it may not have reached its first stage yet)."""
    if not run_dir.is_dir():
        return
    try:
        with run_folder_lock(run_dir):
            own = {".hydra", LOCK_FILE} | {p.name for p in run_dir.glob("*.log")}
            if all(entry.name in own for entry in run_dir.iterdir()):
                shutil.rmtree(run_dir, ignore_errors=True)
    except RunFolderBusy:
        return


@hydra.main(version_base="1.3", config_path="pkg://stillroom.conf", config_name="config")
def hydra_main(cfg: DictConfig) -> float:
    """One Hydra job; returns its objective for sweepers to read: by default the student's NDCG@10 on golden dev,
    never a test figure (``evaluator.objective``). NaN when the data has no dev split: there is nothing to choose on."""
    hydra_config = HydraConfig.get()
    run_dir = Path(hydra_config.runtime.output_dir)
    if hydra_config.output_subdir:
        scrub_hydra_output(run_dir / hydra_config.output_subdir)
    try:
        check_product_config(str(hydra_config.job.config_name), [*hydra_config.overrides.hydra, *hydra_config.overrides.task])
        report = run_job(cfg, run_dir)
    except GateFailed as failed:
        report_error(failed)
        if hydra_config.mode != RunMode.MULTIRUN:
            sys.exit(GATE_EXIT_CODE)
        # One setting of a sweep whose labeler failed a gate is a result, not a broken sweep: the other jobs go on,
        # the sweeper sees a failed trial (NaN), and sweep-report lists the job with its reason.
        write_json(run_dir / GATE_FAILED_FILE, {"stage": failed.where, "message": failed.message})
        return float("nan")
    except StillroomError as error:
        report_error(error)
        remove_if_untouched(run_dir)
        sys.exit(USAGE_EXIT_CODE)
    except BrokenDeclaration as broken:
        report_error(broken)
        sys.exit(BROKEN_DECLARATION_EXIT_CODE)
    except RunInterrupted as interrupted:
        print(f"stillroom: {interrupted.message}", file=sys.stderr)
        sys.exit(interrupted.exit_code)
    value = report["objective"]["value"]
    objective = float("nan") if value is None else float(value)
    if report["verdict"]["compliance_failed"]:
        return _compliance_failed(report, run_dir, hydra_config.mode == RunMode.MULTIRUN, objective)
    return objective


def _compliance_failed(report: dict, run_dir: Path, multirun: bool, objective: float) -> float:
    """The student failed the compliance check: the report says why, and the command exits with the gate's status. In
    a sweep the other jobs go on; a student withheld from export is no trial's result, and sweep-report lists the
    job with the reason its report gives."""
    compliance = report["compliance"]
    withheld = compliance["mode"] == "fail"
    outcome = "it is not exported" if withheld else "it was exported anyway (compliance.mode=warn)"
    print(f"stillroom: {'error' if withheld else 'warning'}: compliance: {compliance['reason']}; {outcome}; "
          f"see {run_dir / report_stage.NAME / report_stage.MARKDOWN.file}", file=sys.stderr)
    if not multirun:
        sys.exit(GATE_EXIT_CODE)
    return float("nan") if withheld else objective
