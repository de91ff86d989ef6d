"""A virtual environment beside the test run's, as on a team's machine: it sees this one's packages and installs its own."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def child_environment(folder: Path) -> Path:
    """A virtual environment that sees this one's packages (stillroom included) and installs its own: a team's machine."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)  # its tools are this environment's
    python = folder / "bin" / "python"
    query = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(python), "-c", query], capture_output=True, text=True, check=True)
    parent = sysconfig.get_paths()["purelib"]
    Path(site.stdout.strip(), "parent_environment.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def install_editable(python: Path, package: Path) -> None:
    """``pip install -e package`` into the child, by this environment's pip and setuptools: nothing is fetched."""
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(package)]
    subprocess.run(install, check=True, capture_output=True)


def team_environ() -> dict[str, str]:
    """This process's environment as a team's shell has it: without the suite's plugin allow-list, so a package installed
    in the child is loaded as it would be for its users."""
    return {name: value for name, value in os.environ.items() if name != "STILLROOM_PLUGIN_DISTRIBUTIONS"}
