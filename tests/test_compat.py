"""Each private API stillroom leans on (all in ``stillroom.compat``) still does what it is used for, on the installed versions.

These fail loudly on a release that moves one, naming the library; pyproject's upper bounds keep users off untested ones.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import torch.multiprocessing as mp
from hydra.core.override_parser.overrides_parser import OverridesParser

from stillroom.compat.hydra import split_sweep
from stillroom.compat.lightning import EpochsCountedFromOne, QuietWandbLogger, SpawnedFSDP
from stillroom.compat.torch import DropsCachesWhenMoved, worker_exception
from stillroom.compat.transformers import drop_recording_hooks, register_recording
from stillroom.errors import StillroomError


def test_hydra_expands_a_basic_sweep_into_one_job_per_combination() -> None:
    parsed = OverridesParser.create().parse_overrides(["seed=1,2", "student=tiny,small", "product=jobs"])
    jobs = split_sweep(parsed)
    assert sorted(map(sorted, jobs)) == sorted(
        sorted(["product=jobs", f"seed={seed}", f"student={student}"]) for seed in (1, 2) for student in ("tiny", "small")
    )


def test_lightning_starts_the_spawned_fsdp_workers_inside_the_call() -> None:
    """There is no GPU here to run FSDP on (torch's FSDP refuses the CPU); what can be checked is how it would start."""
    from stillroom.training.strategies import register_strategies

    register_strategies()
    trainer = pl.Trainer(strategy="fsdp_spawn", accelerator="cpu", devices=2, logger=False, enable_checkpointing=False)
    assert isinstance(trainer.strategy, SpawnedFSDP)
    assert type(trainer.strategy.launcher).__name__ == "_MultiProcessingLauncher" and trainer.strategy.launcher._start_method == "spawn"


def test_lightning_describes_the_second_of_two_epochs_as_epoch_2_of_2() -> None:
    bar = EpochsCountedFromOne()
    bar._trainer = pl.Trainer(max_epochs=2, callbacks=[bar], logger=False, enable_checkpointing=False, accelerator="cpu")  # as fit sets it
    assert bar._get_train_description(1).strip() == "Epoch 2/2" and bar._get_train_description(0).strip() == "Epoch 1/2"


def test_the_wandb_logger_leaves_out_the_setting_wandb_warns_about_and_keeps_the_rest(tmp_path) -> None:
    logger = QuietWandbLogger(project="p", name="n", save_dir=str(tmp_path), offline=True)
    assert "anonymous" not in logger._wandb_init and logger._wandb_init["project"] == "p"
    assert QuietWandbLogger(project="p", save_dir=str(tmp_path), offline=True, anonymous=True)._wandb_init["anonymous"] == "allow"


class _Cached(DropsCachesWhenMoved):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.events: list[str] = []

    def weights_moved(self) -> None:
        self.events.append("moved")

    def weights_loaded(self) -> None:
        self.events.append("loaded")


def test_torch_tells_a_module_when_its_weights_are_moved_or_loaded_and_still_moves_and_loads_them() -> None:
    module = _Cached()
    module.to(torch.float64)
    assert module.events == ["moved"] and module.linear.weight.dtype == torch.float64
    state = {name: torch.ones_like(value) for name, value in module.state_dict().items()}
    module.load_state_dict(state)
    assert module.events == ["moved", "loaded"] and torch.equal(module.linear.weight, torch.ones(2, 2, dtype=torch.float64))


def _fail_in_worker(rank: int) -> None:
    raise StillroomError("first line\nsecond line", where="trainer")


def test_torch_sends_a_worker_exception_back_as_text_we_can_read() -> None:
    with pytest.raises(mp.ProcessRaisedException) as raised:
        mp.start_processes(_fail_in_worker, nprocs=1, start_method="fork")
    assert worker_exception(raised.value) == ("stillroom.errors.StillroomError", "trainer: first line\nsecond line")


def test_transformers_recording_hooks_come_off_for_pickling_and_a_worker_registry_takes_the_copy(tiny_encoder_folder) -> None:
    from transformers import AutoModel
    from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY  # moved or gone: this import says so

    model = AutoModel.from_pretrained(tiny_encoder_folder)
    ids = torch.tensor([[101, 2000, 102]])
    before = model(input_ids=ids, output_hidden_states=True).hidden_states
    drop_recording_hooks(model)
    assert not any(getattr(h, "__qualname__", "").endswith("output_capturing_hook") for m in model.modules() for h in m._forward_hooks.values())
    registered = _CAN_RECORD_REGISTRY.get(model)
    assert "hidden_states" in registered
    copy = pickle.loads(pickle.dumps(model))
    dict.pop(_CAN_RECORD_REGISTRY, str(type(model)))  # a spawned worker: the model was unpickled there, never built
    try:
        assert _CAN_RECORD_REGISTRY.get(copy) == {}
        register_recording(copy)
        assert _CAN_RECORD_REGISTRY.get(copy) == registered
        after = copy(input_ids=ids, output_hidden_states=True).hidden_states
    finally:
        _CAN_RECORD_REGISTRY[model] = registered
    assert len(after) == len(before) and all(torch.allclose(a, b) for a, b in zip(after, before, strict=True))


def _private_uses(path) -> list[str]:
    """Imports of a dependency's private module or name, and calls of a parent class's private method."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith("stillroom"):
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            if private or any(part.startswith("_") and not part.startswith("__") for part in node.module.split(".")):
                found.append(f"{path.name}:{node.lineno}: from {node.module} import {', '.join(a.name for a in node.names)}")
        parent = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "super"
        if parent and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"{path.name}:{node.lineno}: super().{node.attr}")
    return found


def test_no_module_outside_compat_imports_or_overrides_a_private_api() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [p for folder in ("core", "plugins", "products") for p in (root / folder).rglob("*.py") if "compat" not in p.parts]
    assert not [use for path in sources for use in _private_uses(path)]
    assert _private_uses(root / "core" / "compat" / "hydra.py") and _private_uses(root / "core" / "compat" / "torch.py")  # the check finds them


def test_merge_order_lists_the_defaults_list_with_each_files_values_as_written(tmp_path: Path) -> None:
    """Hydra's defaults list and its caching repository, a ``hydra.searchpath`` folder included."""
    from hydra import initialize_config_module

    from stillroom.compat.hydra import merge_order
    from stillroom.config.search_path import register

    (tmp_path / "logger").mkdir()
    (tmp_path / "logger" / "mine.yaml").write_text("name: none\nrun_name: ${hydra:job.name}\n")
    register()
    assert merge_order("config", ["product=feed"]) is None  # outside a Hydra app
    with initialize_config_module(config_module="stillroom.conf", version_base="1.3"):
        order = merge_order("config", ["product=feed", "logger=mine", f"hydra.searchpath=[file://{tmp_path}]"])
    paths = [item.path for item in order]
    assert paths.index("teacher/minilm_lora") < paths.index("teacher/feed") < paths.index("product/feed") < paths.index("data/synthetic")
    product = order[paths.index("product/feed")]
    assert product.package == "" and product.values["product"]["name"] == "feed" and product.where.endswith("product/feed.yaml")
    mine = order[paths.index("logger/mine")]
    assert mine.where == f"file://{tmp_path}/logger/mine.yaml" and mine.values["run_name"] == "${hydra:job.name}"


def test_pluggy_calls_a_replaced_implementation_function_with_the_arguments_it_asked_for() -> None:
    import pluggy

    from stillroom.compat.pluggy import replace_function

    spec, impl = pluggy.HookspecMarker("compat_check"), pluggy.HookimplMarker("compat_check")

    class Spec:
        @spec
        def answer(self, question: str, context: str) -> str: ...

    class Plugin:
        @impl
        def answer(self, question: str) -> str:
            return f"{question}?"

    pm = pluggy.PluginManager("compat_check")
    pm.add_hookspecs(Spec)
    pm.register(Plugin())
    [registered] = pm.hook.answer.get_hookimpls()
    replace_function(registered, lambda function: lambda *args: f"wrapped {function(*args)}")
    assert pm.hook.answer(question="why", context="unused") == ["wrapped why?"]
