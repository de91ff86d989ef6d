"""core/ names no product, model family or loss: it asks the plugin manager."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "core"
LAYOUT = {"core": "stillroom", "plugins": "stillroom/plugins", "products": "stillroom/products"}
"""Where each source folder lands in the installed package (pyproject's package-dir)."""

LAYERS: tuple[tuple[str, ...], ...] = (
    ("stillroom.cli", "stillroom.testing", "stillroom.plugin_reference", "stillroom.api"),
    ("stillroom.recipe",),
    ("stillroom.stages",),
    ("stillroom.serving",),
    ("stillroom.training",),
    ("stillroom.evaluation",),
    (
        "stillroom.baselines",
        "stillroom.synthetic",
        "stillroom.field_features",
        "stillroom.engagement",
        "stillroom.ranker",
        "stillroom.losses",
        "stillroom.policy",
        "stillroom.data",
        "stillroom.config",
        "stillroom.artifacts",
        "stillroom.features",
        "stillroom.reading",
        "stillroom.retrieval",
        "stillroom.plugin_manager",
        "stillroom.hookspecs",
    ),
    ("stillroom.errors", "stillroom.deprecation", "stillroom.files", "stillroom.plugin_boundary", "stillroom.compat"),
)
"""The engine's rooms, top to bottom: a module may import from its own layer's rooms (without a cycle) and from the
layers below, never from a layer above. The command line and the test helpers run a recipe, and the plugins' API
gathers names from every layer; the recipe runs its
stages; a stage trains, scores, evaluates and exports; the types plugins use (data, models, losses, the policy, the
config and the plugin manager) sit below all of that; the leaves (errors, file helpers, the plugin boundary, the
compatibility shims) import nothing of stillroom."""
FORBIDDEN = {"stillroom.plugins": "core never imports a plugin", "stillroom.products": "core never imports a product"}
ENGINE_MAY_IMPORT_API = ("stillroom.api", "stillroom.plugin_reference", "stillroom.cli", "stillroom.testing")
"""``stillroom.api`` is the plugins' door into the engine; the engine itself does not go through it."""

CHECK = """
import graphlib, json, sys
import grimp
layers, forbidden, api_users = json.loads(sys.argv[1])
graph = grimp.build_graph("stillroom", cache_dir=None, exclude_type_checking_imports=True)
engine = sorted(m for m in graph.modules if not m.startswith(tuple(forbidden)))
room = lambda module: ".".join(module.split(".")[:2])
illegal = graph.find_illegal_dependencies_for_layers(layers=[grimp.Layer(*rooms, independent=False) for rooms in layers])
rooms = {}
for module in engine:
    rooms.setdefault(room(module), set()).update(
        room(imported) for imported in graph.find_modules_directly_imported_by(module)
        if imported != "stillroom" and not imported.startswith(tuple(forbidden)) and room(imported) != room(module)
    )
try:
    graphlib.TopologicalSorter(rooms).prepare()
    cycle = None
except graphlib.CycleError as error:
    cycle = error.args[1]
print(json.dumps({
    "upward": sorted(f"{d.importer} -> {d.imported}" for d in illegal),
    "routes": sorted(f"{head} -> {tail}" for d in illegal for route in d.routes for head in route.heads for tail in route.tails),
    "cycle": cycle,
    "forbidden": sorted(f"{m} -> {i}" for m in engine for i in graph.find_modules_directly_imported_by(m) if i.startswith(tuple(forbidden))),
    "api": sorted(f"{m} -> stillroom.api" for m in engine if not m.startswith(tuple(api_users))
                  and "stillroom.api" in graph.find_modules_directly_imported_by(m)),
    "rooms": sorted(rooms),
}))
"""
# Product names as values ("jobs" also means Hydra jobs in prose), model families and loss names anywhere.
FORBIDDEN_WORDS = re.compile(
    r"""["'](jobs|feed|search)["']|\b(minilm\w*|bert\w*|llama\w*|smollm\w*|soft_label_kl|hard_label_ce|margin_mse|ranknet|listnet)\b""",
    re.IGNORECASE,
)


def installed_layout(root: Path) -> Path:
    """The package's Python files as a wheel lays them out, under ``root``: the editable install maps three source
    folders onto one package, and grimp, walking the folder ``stillroom`` resolves to, would see core's alone."""

    def not_source(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or (Path(folder, n).is_file() and not n.endswith(".py"))]

    for source, target in LAYOUT.items():
        shutil.copytree(REPO / source, root / target, ignore=not_source, dirs_exist_ok=True)
    return root


def layering(root: Path) -> dict[str, Any]:
    """The package laid out under ``root`` checked by grimp, in a fresh interpreter that finds that copy first: the
    imports that go up a layer, a cycle between core's rooms (``None`` when there is none), core's imports of plugins
    or products, the engine's imports of its own API module, and the rooms it saw. Annotation-only imports (under
    ``TYPE_CHECKING``) are not dependencies at run time and are left out."""
    env = {"PYTHONPATH": str(root), "PATH": "", "HOME": str(root)}
    contracts = json.dumps([LAYERS, list(FORBIDDEN), ENGINE_MAY_IMPORT_API])
    done = subprocess.run([sys.executable, "-c", CHECK, contracts], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def on_main(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return layering(installed_layout(tmp_path_factory.mktemp("wheel")))


def test_main_keeps_its_layers_has_no_cycle_between_rooms_and_core_imports_no_plugin(on_main: dict[str, Any]) -> None:
    assert (on_main["upward"], on_main["cycle"], on_main["forbidden"], on_main["api"]) == ([], None, [], []), on_main["routes"]


def test_every_room_of_core_is_in_a_layer(on_main: dict[str, Any]) -> None:
    layered = {room for layer in LAYERS for room in layer}
    assert sorted(set(on_main["rooms"]) - layered - {"stillroom"}) == []


def _planted(root: Path, module: str, line: str) -> dict[str, Any]:
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{line}  # planted\n")
    return layering(root)


def test_the_check_catches_an_import_of_a_plugin_planted_in_core(tmp_path: Path) -> None:
    found = _planted(installed_layout(tmp_path), "stillroom.errors", "from stillroom.plugins import losses")
    assert found["forbidden"] == ["stillroom.errors -> stillroom.plugins.losses"]


def test_the_check_catches_an_upward_import_and_the_cycle_it_makes(tmp_path: Path) -> None:
    found = _planted(installed_layout(tmp_path), "stillroom.training.loop", "from stillroom.stages import contracts")
    assert found["upward"] == ["stillroom.training -> stillroom.stages"]
    assert found["cycle"] is not None and {"stillroom.training", "stillroom.stages"} <= set(found["cycle"])


def test_core_source_names_no_product_model_family_or_loss() -> None:
    hits = []
    for path in sorted(CORE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(('"stillroom.plugins.', "'stillroom.plugins.")):
                continue  # DEFAULT_PLUGINS names built-in plugin modules by path, as datasette does
            if FORBIDDEN_WORDS.search(line):
                hits.append(f"{path.name}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_the_products_and_the_product_template_import_only_the_public_api() -> None:
    """A product is written as a product team writes theirs: from ``stillroom.api`` and its own package alone."""
    imports = re.compile(r"^\s*(?:from|import)\s+(stillroom(?:\.[\w.]+)?)\b", re.MULTILINE)  # not stillroom_{{ name }}
    sources = [*(REPO / "products").rglob("*.py"), *(REPO / "templates" / "product").rglob("*.py"), *(REPO / "templates" / "product").rglob("*.py.jinja")]
    offenders = []
    for path in sources:
        own = f"stillroom.products.{path.relative_to(REPO / 'products').parts[0]}" if path.is_relative_to(REPO / "products") else None
        for module in imports.findall(path.read_text()):
            if module != "stillroom.api" and not (own and module.startswith(own)):
                offenders.append(f"{path.relative_to(REPO)}: {module}")
    assert len(sources) > 8 and offenders == []
