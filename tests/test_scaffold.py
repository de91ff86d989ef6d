"""``stillroom new product``: a package a team can install, run and test, with no change to stillroom."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stillroom.cli import main
from stillroom.cli.scaffold import check_product_name, new_product
from stillroom.config.products import known_products
from stillroom.errors import StillroomError
from stillroom.plugin_manager import get_plugin_manager
from tests.child_env import child_environment, install_editable, team_environ


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Widgets", "lower-case Python identifier"),
        ("my-product", "lower-case Python identifier"),
        ("class", "lower-case Python identifier"),
        ("../escape", "lower-case Python identifier"),
        ("jobs", "a product named 'jobs' exists already; products: feed, jobs, search"),
    ],
)
def test_a_bad_or_taken_name_is_refused(name: str, message: str) -> None:
    with pytest.raises(StillroomError, match=message):
        check_product_name(name, known_products(get_plugin_manager()))


def test_it_never_overwrites_and_leaves_nothing_half_made(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "product", "widgets", "--out", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "made " in said and "stillroom_widgets/plugin.py" in said and "policy.md" in said
    package = tmp_path / "stillroom-widgets"
    assert "http" not in (package / "README.md").read_text()  # no placeholder link to follow
    teacher = (package / "stillroom_widgets" / "conf" / "teacher" / "widgets.yaml").read_text()
    assert teacher.startswith("# The teacher of product=widgets (Widgets recommendations):")
    plugin = tmp_path / "stillroom-widgets" / "stillroom_widgets" / "plugin.py"
    plugin.write_text("# the team's own edits\n")
    assert main(["new", "product", "widgets", "--out", str(tmp_path)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert plugin.read_text() == "# the team's own edits\n"
    assert [p.name for p in tmp_path.iterdir()] == ["stillroom-widgets"]  # no staging folder left behind


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_scaffolded_product_installs_runs_and_passes_its_own_tests(tmp_path: Path) -> None:
    package, _ = new_product("widgets", tmp_path, known_products(get_plugin_manager()))
    assert package == tmp_path / "stillroom-widgets"
    python = child_environment(tmp_path / "env")
    install_editable(python, package)

    listed = subprocess.run([str(python), "-m", "stillroom.cli", "plugins"], capture_output=True, text=True, check=True, env=team_environ()).stdout
    assert "widgets  [stillroom-widgets 0.1.0]" in listed and "stillroom_data_sources" in listed

    # The package's own tests: its policy, its world, its plugin, and a tiny run of the whole recipe on product=widgets.
    own_tests = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package)]
    tests = subprocess.run(own_tests, capture_output=True, text=True, cwd=tmp_path, env=team_environ())
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "5 passed" in tests.stdout

    # stillroom's own tests that list the installed products still pass with widgets installed beside them: the suite
    # loads only stillroom's own plugins (tests/conftest.py), whatever a team installs.
    root = Path(__file__).resolve().parents[1]
    listing = ["tests/test_cli.py", "tests/test_scaffold.py::test_a_bad_or_taken_name_is_refused", "tests/test_plugin_manager.py"]
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "-k", "product or plugin", *listing]
    own = subprocess.run(command, capture_output=True, text=True, cwd=root, env=team_environ())
    assert own.returncode == 0, own.stdout[-3000:] + own.stderr[-2000:]
    assert " passed" in own.stdout and "failed" not in own.stdout
