"""Stage contracts: declarations decide the order, the upstream and the models; the code keeps to them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import grimp
import pytest

from stillroom.artifacts import ArtifactStore
from stillroom.errors import StillroomError
from stillroom.files import fingerprint
from stillroom.recipe.run import STAGE_MODULES, recipe_plan
from stillroom.stages.contracts import Artifact, Plan, Stage, TrainedModel, describe
from stillroom.stages.stage_io import StageIO, UndeclaredArtifact
from tests.helpers import compose_config

ROOT = Path(__file__).resolve().parents[1]
EVERY_STAGE = ("judge=tiny", "engagement_teacher=tiny", "prune.enabled=true")


def _noop(ctx) -> dict:
    return {}


def test_no_stage_module_imports_another_stage() -> None:
    """Stage modules share the stages room's contracts, context and helpers, never each other."""
    from stillroom.recipe.run import STAGE_MODULES

    graph = grimp.build_graph("stillroom")
    stages = {module.__name__ for module in STAGE_MODULES}
    assert len(stages) == len(STAGE_MODULES) and stages <= graph.modules
    offenders = {(m, i) for m in stages for i in graph.find_modules_directly_imported_by(m) if i in stages or i == "stillroom.stages"}
    assert not offenders


def test_every_artifact_file_between_stages_is_named_once_in_core() -> None:
    """A file name lives in its declaration; readers ask for the artifact by name."""
    plan = recipe_plan(compose_config(*EVERY_STAGE))
    files = {a.file for stage in plan.stages for a in stage.outputs if "." in a.file}
    sources = [p.read_text() for p in (ROOT / "core").rglob("*.py")]
    counts = {file: sum(text.count(f'"{file}"') for text in sources) for file in files}
    assert files and all(count <= 1 for count in counts.values()), counts


def test_the_order_follows_the_reads_not_the_declaration() -> None:
    late = Stage("late", _noop, (), reads=("early.thing",))
    early = Stage("early", _noop, (), writes=(Artifact("early.thing", "thing.json"),))
    plan = Plan([late, early])
    assert [s.name for s in plan.stages] == ["early", "late"] and plan.upstream["late"] == ("early",)


def test_a_read_nobody_writes_two_writers_and_a_cycle_are_errors_in_the_recipe() -> None:
    with pytest.raises(StillroomError, match="no stage of this recipe writes 'ghost.thing'"):
        Plan([Stage("a", _noop, (), reads=("ghost.thing",))])
    twice = Artifact("x.y", "y.json")
    with pytest.raises(StillroomError, match="two stages write 'x.y'"):
        Plan([Stage("a", _noop, (), writes=(twice,)), Stage("b", _noop, (), writes=(twice,))])
    a = Stage("a", _noop, (), reads=("b.out",), writes=(Artifact("a.out", "a.json"),))
    b = Stage("b", _noop, (), reads=("a.out",), writes=(Artifact("b.out", "b.json"),))
    with pytest.raises(StillroomError, match="in a cycle"):
        Plan([a, b])


def test_a_stage_reads_and_writes_only_what_it_declares(tmp_path: Path) -> None:
    mine, other = Artifact("a.out", "out.json"), Artifact("b.out", "out.json")
    a = Stage("a", _noop, (), writes=(mine,))
    b = Stage("b", _noop, (), writes=(other,))
    c = Stage("c", _noop, (), reads=("a.out",))
    plan = Plan([a, b, c])
    store = ArtifactStore(tmp_path)
    StageIO(store, plan, a).write_json(mine, {"from": "a"})
    with pytest.raises(UndeclaredArtifact, match="stage 'a' writes 'b.out'"):
        StageIO(store, plan, a).write_json(other, {})
    StageIO(store, plan, b).write_json(other, {"from": "b"})
    assert StageIO(store, plan, c).read_json("a.out") == {"from": "a"}
    with pytest.raises(UndeclaredArtifact, match="stage 'c' reads 'b.out'"):
        StageIO(store, plan, c).read_json("b.out")
    assert StageIO(store, plan).read_json("b.out") == {"from": "b"}  # a finished run, read from outside


def test_a_stage_that_breaks_its_declaration_is_caught(tmp_path: Path) -> None:
    promised = Artifact("a.out", "out.json")
    a = Stage("a", _noop, (), writes=(promised, Artifact("a.maybe", "maybe.json", optional=True)))
    store = ArtifactStore(tmp_path)
    io = StageIO(store, Plan([a]), a)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "stray.txt").write_text("x")
    assert io.broken_promises() == ["a.out (out.json) was not written", "stray.txt is not declared"]
    io.write_json(promised, {})
    (tmp_path / "a" / "stray.txt").unlink()
    assert io.broken_promises() == []


def test_evaluate_and_export_see_the_models_the_stages_declare() -> None:
    plan = recipe_plan(compose_config(*EVERY_STAGE))
    assert [m.name for m in plan.models()] == ["judge", "teacher", "engagement_teacher", "student_before_pruning", "student_no_kd", "student"]
    assert plan.model("student") == TrainedModel("student", "student") and plan.upstream["export"][0] == "prune"
    plain = recipe_plan(compose_config())
    assert [m.name for m in plain.models()] == ["teacher", "student", "student_no_kd"] and plain.upstream["export"][0] == "distill"
    assert plain.stages[-1].name == "report"


def test_every_stage_module_declares_something_in_the_full_recipe() -> None:
    stages = recipe_plan(compose_config(*EVERY_STAGE)).stages
    declared = {getattr(stage.run, "func", stage.run).__module__ for stage in stages}
    assert declared == {module.__name__ for module in STAGE_MODULES}


def test_the_architecture_page_shows_every_stage_as_declared() -> None:
    table = describe(recipe_plan(compose_config(*EVERY_STAGE)))
    page = (ROOT / "docs" / "architecture.md").read_text()
    assert table in page, f"docs/architecture.md is out of step with the declarations; its table should read:\n{table}"
    assert re.search(r"^```\n", page, re.MULTILINE)  # the one picture


def test_a_stage_reads_through_its_view_only_what_it_declares_and_gets_copies() -> None:
    from stillroom.stages.config_view import ConfigView, UndeclaredConfig

    config = {"seed": 3, "loss": {"finetune": {"listnet": {"weight": 1.0}}, "distill": {}}, "teacher": {"lr": 0.1}}
    view = ConfigView(config, ("seed", "loss.finetune"), "finetune")
    assert view["seed"] == 3 and view["loss"]["finetune"] == {"listnet": {"weight": 1.0}}
    assert sorted(view) == ["loss", "seed"] and list(view["loss"]) == ["finetune"]
    view["loss"]["finetune"]["listnet"]["weight"] = 9.0
    assert config["loss"]["finetune"]["listnet"]["weight"] == 1.0
    said = r"^stage 'finetune' reads config 'teacher', which it does not declare \(its config keys: seed, loss.finetune\)$"
    with pytest.raises(UndeclaredConfig, match=said):
        view.get("teacher")
    with pytest.raises(UndeclaredConfig, match="reads config 'loss.distill'"):
        view["loss"]["distill"]
    assert ConfigView(config, ("judge",), "gate").get("judge") is None  # declared, absent: as a dict answers


def test_a_planted_undeclared_config_read_stops_the_run_in_one_line_naming_stage_and_key(
    smoke_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import sys

    from stillroom.stages import compliance
    from tests.helpers import SMOKE_RUN, run_cli

    reads_the_teacher = compliance.run

    def planted(ctx):  # reads the teacher's learning rate, which compliance does not declare
        ctx.config["teacher"]["train"]["lr"]
        return reads_the_teacher(ctx)

    monkeypatch.setattr(compliance, "run", planted)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)
    (run_dir / "compliance" / "_complete.json").unlink()  # compliance runs again, reading through its view
    status = run_cli(["run", *SMOKE_RUN, f"hydra.run.dir={run_dir}"])
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert err.startswith("stillroom: error: stage 'compliance' reads config 'teacher', which it does not declare (its config keys: ")
    assert len(err.splitlines()) == 1


SHIPPED_RECIPES = {
    "default": (),
    "judge": ("judge=tiny",),
    "multi-teacher": ("engagement_teacher=tiny", "loss=multi_teacher"),
    "prune": ("prune.enabled=true",),
    "ddp": ("trainer.devices=2", "trainer.strategy=ddp_fork"),
}


def _leaves(config: Any, prefix: str = "") -> list[str]:
    if isinstance(config, dict) and config:
        return [leaf for key, value in config.items() for leaf in _leaves(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, list):
        return [*value, "changed"]
    return f"{value}-changed" if isinstance(value, str) else "changed"


@pytest.mark.parametrize("recipe", list(SHIPPED_RECIPES))
def test_a_stages_fingerprint_moves_with_every_entry_it_reads_and_with_nothing_else(recipe: str) -> None:
    """Every stage of a shipped recipe reads its config through its view (the runs of the suite check that), so its
    declared entries are all it reads: changing one moves its fingerprint (cosmetic ones aside), changing any
    other entry leaves it to be reused."""
    from stillroom.config.schema import validate_config
    from stillroom.recipe.run import COSMETIC_KEYS, FILE_KEYS, stage_fingerprint_config

    config = validate_config(compose_config("experiment=smoke", *SHIPPED_RECIPES[recipe]))
    stages = recipe_plan(config).stages
    before = {stage.name: fingerprint(stage_fingerprint_config(config, stage)) for stage in stages}
    wrong = []
    for leaf in _leaves(config):
        if leaf in FILE_KEYS:
            continue  # a file a config names is fingerprinted by its content (test_recipe.py)
        *path, last = leaf.split(".")
        parent = config
        for part in path:
            parent = parent[part]
        value = parent[last]
        parent[last] = _changed(value)
        for stage in stages:
            reads = any(leaf == key or leaf.startswith(f"{key}.") for key in stage.config_keys)
            cosmetic = any(leaf == key or leaf.startswith(f"{key}.") for key in COSMETIC_KEYS)
            moved = fingerprint(stage_fingerprint_config(config, stage)) != before[stage.name]
            if moved != (reads and not cosmetic):
                wrong.append(f"{stage.name}: {leaf} ({'moved' if moved else 'did not move'})")
        parent[last] = value
    assert len(stages) >= 9 and wrong == []
