"""What several test modules share: composing a config, tiny models and items, the CLI in and out of process.

Fixtures live in ``conftest.py``; everything here is a plain function, class or constant, imported by name.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from stillroom import hookimpl
from stillroom.config.schema import validate_config
from stillroom.config.search_path import register as register_plugin_configs
from stillroom.plugin_manager import get_plugin_manager
from stillroom.ranker import BuildContext, Ranker, available_models, build_model
from stillroom.training import TrainItem

if TYPE_CHECKING:
    from stillroom.plugins.models.late_interaction import LateInteractionRanker


def compose_config(*overrides: str) -> DictConfig:
    """The run config exactly as `stillroom run OVERRIDES` would compose it (Hydra's own compose API, plugins' configs found)."""
    register_plugin_configs()
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)


class ConfigShipper:
    """A plugin that ships the config groups in ``folder`` (``stillroom_config_searchpath``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def stillroom_config_searchpath(self) -> list[str]:
        return [f"file://{self.folder}"]


REPOSITORY = Path(__file__).resolve().parents[1]


def page_text(page: str) -> str:
    """A documentation page of the repository (``docs/plugins.md``), its lines joined: a quoted message may wrap."""
    return " ".join((REPOSITORY / page).read_text(encoding="utf-8").split()).replace("` `", " ")


SMOKE_RUN = ("experiment=smoke", "export.onnx=true")
"""The overrides of the session's smoke run: the smoke experiment, with the student exported to ONNX too."""


class EncoderCalls:
    """Counts the texts a model's frozen encoder reads."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.texts = 0
        model.encoder.register_forward_hook(self._count, with_kwargs=True)

    def _count(self, module: torch.nn.Module, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        self.texts += kwargs["input_ids"].shape[0]


class Payload:
    """Unpickling this writes ``marker``: proof, if the file appears, that a loader ran pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path, str]]:
        return (Path.write_text, (self.marker, "executed"))


def run_cli(args: list[str]) -> int:
    """The ``stillroom`` command in-process: its exit status, whether it returned or exited; Hydra left clear for the next call."""
    from hydra.core.global_hydra import GlobalHydra

    from stillroom.cli import main

    try:
        return main(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        GlobalHydra.instance().clear()


def stillroom(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "stillroom.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


TRAINER = {"accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": "32-true", "progress_bar": False,
           "log_every_n_steps": 1, "deterministic": True}


def train_config(**values: Any) -> dict[str, Any]:
    """A model's ``train`` settings as a run's config has them: ``conf/shared/model.yaml``'s, ``values`` over them."""
    from importlib import resources

    import yaml

    shared = yaml.safe_load(resources.files("stillroom.conf").joinpath("shared", "model.yaml").read_text(encoding="utf-8"))
    return {**shared["train"], **values}


def build_with_plugins(role: str, model_config: Mapping[str, Any], context: BuildContext) -> Ranker:
    """The model ``model_config`` names, built by whichever plugin contributes that family, as a run builds it."""
    return build_model(available_models(get_plugin_manager()), role, model_config, context)


def tiny_ranker():
    config = validate_config(compose_config("teacher=tiny"))["teacher"]
    return build_with_plugins("teacher", config, BuildContext(2))


def toy_items(n: int, seed: int) -> list[TrainItem]:
    """A learnable toy task: label 1 when the candidate repeats the request's word."""
    rng = random.Random(seed)
    words = ["python", "nurse", "berlin", "sales", "design", "finance"]
    items = []
    for _ in range(n):
        a, b = rng.sample(words, 2)
        same = rng.random() < 0.5
        items.append(TrainItem(a, a if same else b, label=int(same)))
    return items


LATE_REQUESTS = ["Senior Data Engineer | Spark, SQL | Berlin | no relocation", "Junior Nurse | Patient Care | Paris"]


LATE_CANDIDATES = ["Data Engineer | Spark | Berlin | remote", "Nurse | Patient Care, Triage, Pediatrics, Wound Care | Paris | onsite", "Chef | Rome"]


def late_interaction_config(folder: Path, **overrides) -> dict:
    config = validate_config(compose_config("student=late_interaction", f"student.pretrained={folder}", f"student.tokenizer={folder}"))["student"]
    return {**config, "interaction_dim": 8, "heads": 2, "mlp_hidden": 16, **overrides}


def build_late_interaction(config: dict) -> LateInteractionRanker:
    model = build_with_plugins("student", config, BuildContext(4))
    with torch.no_grad():  # not the freshly built weights: every part should matter to the scores
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.normal_(0.0, 0.5)
    return model


class FaultAt:
    """A loss term that is fine until ``step`` and then ``value``."""

    def __init__(self, step: int, value: float) -> None:
        self.step, self.value, self.calls = step, value, 0

    def __call__(self, logits: torch.Tensor, batch: Mapping[str, Any]) -> torch.Tensor:
        self.calls += 1
        loss = logits.mean() * 0
        return loss + self.value if self.calls > self.step else loss


PRIOR_REQUESTS = ["python data engineer berlin", "nurse night shifts", "sourdough baker", "rust systems engineer"] * 3


PRIOR_CANDIDATES = [
    "Senior Data Engineer | Python, Spark | Berlin", "Intensive care nurse, nights", "Artisan bakery: sourdough and rye",
    "Backend engineer | Rust, Go", "Pastry chef | Paris", "Data analyst | SQL | Munich", "Care home nurse | days",
    "Embedded Rust developer", "Python developer | Django | Berlin", "Bread baker | early shifts", "Physician | cardiology",
    "Systems programmer | C, Rust",
]


@dataclass
class HookCalls:
    """The hook calls of a run as a hook wrapper saw them (one name per call) and as the tracer wrote them."""

    wrapped: list[str] = field(default_factory=list)
    traced: list[str] = field(default_factory=list)

    def wrapper(self) -> object:
        """A plugin with a wrapper (``wrapper=True``) of every stillroom hook but the deprecated ones (implementing
        those warns), recording each call's hook name."""
        from stillroom import hookimpl, hookspecs

        def watching(name: str) -> Any:
            def wrap() -> Any:
                self.wrapped.append(name)
                return (yield)

            wrap.__name__ = name
            return hookimpl(wrapper=True)(wrap)

        names = [name for name in dir(hookspecs) if name.startswith("stillroom_") and name not in hookspecs.REPLACED_HOOKS]
        return type("HookWatcher", (), {name: staticmethod(watching(name)) for name in names})()

    def traced_hooks(self) -> list[str]:
        """The hook of each call the tracer wrote as it started."""
        return [line.split()[2].split("(")[0] for line in self.traced if "(" in line.split()[2]]
