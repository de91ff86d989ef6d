"""A broken plugin package installed beside stillroom: named as failed, and every run that does not need it still runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.child_env import child_environment, install_editable, team_environ


def _broken_package(folder: Path) -> Path:
    """A team's plugin package whose module fails on import (a typo in a dependency's name)."""
    (folder / "stillroom_broken").mkdir(parents=True)
    (folder / "stillroom_broken" / "__init__.py").write_text("")
    (folder / "stillroom_broken" / "plugin.py").write_text("import numpyy  # the typo\n")
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "stillroom-broken"\nversion = "0.0.1"\n\n'
        '[project.entry-points.stillroom]\nbroken = "stillroom_broken.plugin"\n\n'
        '[tool.setuptools]\npackages = ["stillroom_broken"]\n'
    )
    return folder


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_broken_plugin_package_is_named_and_the_jobs_recipe_still_runs(tmp_path: Path) -> None:
    python = child_environment(tmp_path / "env")
    install_editable(python, _broken_package(tmp_path / "stillroom-broken"))

    listed = subprocess.run([str(python), "-m", "stillroom.cli", "plugins"], capture_output=True, text=True, check=True, env=team_environ()).stdout
    assert "broken  [FAILED to load: entry point from stillroom-broken]" in listed
    assert "error: ModuleNotFoundError: No module named 'numpyy'" in listed
    assert "jobs  [stillroom" in listed

    run_dir = tmp_path / "run"
    command = [str(python), "-m", "stillroom.cli", "run", "product=jobs", "experiment=smoke", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, capture_output=True, text=True, env=team_environ())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning: plugin 'broken' (entry point from stillroom-broken) failed to load: ModuleNotFoundError" in result.stderr
    assert json.loads((run_dir / "report" / "report.json").read_text())["product"] == "jobs"
