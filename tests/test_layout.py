"""The package layout: one import name, `stillroom`, for the top-level folders, and package data in wheels too."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_names_map_to_the_top_level_folders() -> None:
    import stillroom
    import stillroom.conf
    import stillroom.plugins
    import stillroom.products
    import stillroom.templates

    assert Path(stillroom.__file__).parent == ROOT / "core"
    assert Path(stillroom.plugins.__file__).parent == ROOT / "plugins"
    assert Path(stillroom.products.__file__).parent == ROOT / "products"
    assert Path(stillroom.conf.__file__).parent == ROOT / "conf"
    assert Path(stillroom.templates.__file__).parent == ROOT / "templates"


def test_config_tree_and_policy_are_package_resources() -> None:
    assert resources.files("stillroom.conf").joinpath("config.yaml").is_file()
    assert resources.files("stillroom.conf").joinpath("product/jobs.yaml").is_file()
    assert resources.files("stillroom.products.jobs").joinpath("policy.md").is_file()


SOURCES = ("pyproject.toml", "README.md", "core", "plugins", "products", "conf", "templates")
"""What a wheel is built from; a copy of them, so that a ``build/`` folder left in the checkout cannot hide a missing file."""


@pytest.mark.slow
@pytest.mark.subprocess
def test_built_wheel_ships_configs_templates_and_policy(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True,
    )
    (wheel,) = tmp_path.glob("stillroom-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "stillroom/hookspecs.py",
        "stillroom/plugins/losses/__init__.py",
        "stillroom/plugins/losses/ranking.py",
        "stillroom/plugins/baselines/bm25.py",
        "stillroom/plugins/data/beir.py",
        "stillroom/plugins/models/two_tower.py",
        "stillroom/plugins/models/late_interaction.py",
        "stillroom/conf/engagement_teacher/minilm_lora.yaml",
        "stillroom/products/jobs/policy.md",
        "stillroom/products/jobs/vocabulary.yaml",
        "stillroom/conf/config.yaml",
        "stillroom/conf/teacher/minilm_lora.yaml",
        "stillroom/products/search/policy.md",
        "stillroom/products/search/vocabulary.yaml",
        "stillroom/templates/product/copier.yml",
        "stillroom/templates/product/project/pyproject.toml.jinja",
        "stillroom/templates/product/project/stillroom_{{name}}/plugin.py",
        "stillroom/templates/product/project/stillroom_{{name}}/conf/product/{{name}}.yaml.jinja",
        "stillroom/templates/product/project/tests/test_{{name}}.py.jinja",
    ):
        assert expected in names, expected
    assert not any(name.startswith("core/") for name in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[stillroom]" in text and "stillroom.products.jobs.plugin" in text
    assert "stillroom = stillroom.cli:main" in text


def test_constraints_pin_the_cpu_torch() -> None:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in lines
    assert all("==" in line for line in lines if line and not line.startswith("#"))


def test_every_python_package_folder_is_listed_in_pyproject() -> None:
    """setuptools installs only the packages pyproject lists: a new subfolder left out works in a checkout and breaks in a wheel."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    for package, folder in setuptools["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(root / folder).parts
            if "__pycache__" not in relative:
                assert ".".join((package, *relative)) in listed, f"{init.parent} is not in pyproject's packages"
