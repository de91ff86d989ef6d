"""The README and docs/ stay true: every `stillroom` command they quote parses (a `run` composes every job it
would run, its overrides resolving against conf/ and the plugins' configs), every link stays in the repository
and leads to a file, and the README stays a few screens long."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from stillroom.cli.main import VERBOSE_FLAGS, VERBOSE_OVERRIDE, build_parser
from stillroom.cli.overrides import check_overrides
from stillroom.config.search_path import register as register_plugin_configs
from stillroom.plugin_manager import get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_CHARS = 12_000
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE_RUN = re.compile(r"`(stillroom run\b[^`]*)`")
_SYNOPSIS = re.compile(r"\[-|\{[\w,]+\}|\.\.\.")
"""A usage line (``stillroom score --model DIR [--backend {torch,onnxruntime}]``, ``key=value ...``) shows a command's
shape, not a command."""
_SCAFFOLDED = re.compile(r"stillroom new product (\w+)")
_LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")
_HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def _logical_lines(text: str) -> list[str]:
    """Lines with shell continuations (a trailing backslash) joined, comments and prompts dropped."""
    lines = re.sub(r"\\\n\s*", " ", text).splitlines()
    return [line.split(" #")[0].strip().removeprefix("$ ") for line in lines]


def quoted_commands(page: Path) -> list[str]:
    """Every `stillroom` command line of the page's code blocks, and every `stillroom run` in its inline code."""
    text = page.read_text(encoding="utf-8")
    found = [line for block in _FENCE.findall(text) for line in _logical_lines(block) if line.startswith("stillroom ")]
    found += [match.strip() for match in _INLINE_RUN.findall(_FENCE.sub("", text))]
    return [command for command in found if not _SYNOPSIS.search(command)]


SCAFFOLDED = {name for page in PAGES for name in _SCAFFOLDED.findall(page.read_text(encoding="utf-8"))}
COMMANDS = sorted({(page.relative_to(ROOT).as_posix(), command) for page in PAGES for command in quoted_commands(page)})


def test_the_pages_quote_the_main_commands() -> None:
    quoted = {command for _, command in COMMANDS}
    assert "stillroom run product=jobs" in quoted and "stillroom run product=jobs experiment=smoke" in quoted
    assert any(command.startswith("stillroom score ") for command in quoted)


@pytest.mark.parametrize(("page", "command"), COMMANDS, ids=[f"{page}: {command}" for page, command in COMMANDS])
def test_every_quoted_command_parses_and_every_run_composes(page: str, command: str) -> None:
    args = shlex.split(command)[1:]
    if args[0] != "run":
        build_parser().parse_args(args)  # argparse exits on a wrong flag or a missing argument
        return
    register_plugin_configs()
    overrides = [VERBOSE_OVERRIDE if arg in VERBOSE_FLAGS else arg for arg in args[1:] if not arg.startswith("hydra.")]
    # A product the pages scaffold first (`stillroom new product widgets`) exists once its package is installed:
    # the rest of the command is checked with a product that is installed here.
    overrides = ["product=jobs" if arg.removeprefix("product=") in SCAFFOLDED else arg for arg in overrides]
    check_overrides(get_plugin_manager(), overrides)


def anchors(page: Path) -> set[str]:
    """The anchors a Markdown renderer gives the page's headings (GitHub's rule: lower case, punctuation
    other than ``-`` and ``_`` dropped, spaces to ``-``), code blocks left out."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in _HEADING.findall(text)}


@pytest.mark.parametrize("page", PAGES, ids=[page.relative_to(ROOT).as_posix() for page in PAGES])
def test_every_link_stays_in_the_repository_and_leads_to_a_file_and_heading(page: Path) -> None:
    for target, anchor in _LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # a web address
            continue
        resolved = (page.parent / target).resolve() if target else page
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name} links to {target}#{anchor}, a heading that is not there"


def test_the_readme_is_a_few_screens() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8")) <= README_MAX_CHARS


def test_policy_examples_a_team_copies_write_their_mappings_in_block_style() -> None:
    """In YAML's flow style a comma in a value (a title, a description) splits the mapping with a confusing error."""
    template = ROOT / "templates" / "product" / "project" / "stillroom_{{name}}" / "policy.md.jinja"
    for page in [template, *PAGES]:
        flow = re.findall(r"^\s*(?:- )?(?:request|candidate): \{.*$", page.read_text(encoding="utf-8"), re.MULTILINE)
        assert flow == [], f"{page.relative_to(ROOT)} writes a precedent in flow style: {flow[0]}"
