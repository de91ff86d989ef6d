"""core/ names no product, model family or loss: it asks the plugin manager."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "core"
FORBIDDEN_PACKAGES = ("stillroom.plugins", "stillroom.products")
LAYOUT = {"core": "stillroom", "plugins": "stillroom/plugins", "products": "stillroom/products"}
"""Where each source folder lands in the installed package (pyproject's package-dir)."""
OFFENDERS = """
import json, sys
import grimp
graph = grimp.build_graph("stillroom", cache_dir=None)
forbidden = tuple(sys.argv[1:])
print(json.dumps(sorted(
    [module, imported]
    for module in graph.modules if not module.startswith(forbidden)
    for imported in graph.find_modules_directly_imported_by(module) if imported.startswith(forbidden)
)))
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


def core_imports_of_plugins(root: Path) -> list[list[str]]:
    """Each (core module, plugin or product module) import in the package laid out under ``root``, by grimp, in a
    fresh interpreter that finds that copy first."""
    env = {"PYTHONPATH": str(root), "PATH": "", "HOME": str(root)}
    done = subprocess.run([sys.executable, "-c", OFFENDERS, *FORBIDDEN_PACKAGES], cwd=root, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_the_check_sees_the_whole_package_and_catches_a_planted_import(tmp_path: Path) -> None:
    root = installed_layout(tmp_path)
    errors = root / "stillroom" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom stillroom.plugins import retrieval  # planted\n")
    assert core_imports_of_plugins(root) == [["stillroom.errors", "stillroom.plugins.retrieval"]]


def test_core_modules_import_no_plugin_or_product(tmp_path: Path) -> None:
    assert core_imports_of_plugins(installed_layout(tmp_path)) == []


def test_core_source_names_no_product_model_family_or_loss() -> None:
    hits = []
    for path in sorted(CORE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith(('"stillroom.plugins.', "'stillroom.plugins.")):
                continue  # DEFAULT_PLUGINS names built-in plugin modules by path, as datasette does
            if FORBIDDEN_WORDS.search(line):
                hits.append(f"{path.name}:{number}: {line.strip()}")
    assert not hits, "\n".join(hits)
