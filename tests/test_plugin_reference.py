"""The plugin reference covers the public surface: every stillroom type a hook takes or returns (and the types those
hold) is exported by ``stillroom.api``, documents each field and shows an example that runs, and the page in
docs/ is what the code generates."""

from __future__ import annotations

import collections.abc
import dataclasses
import doctest
import inspect
import typing
from pathlib import Path

import pytest
from lightning.pytorch.loggers import Logger

from stillroom import api
from stillroom.plugin_reference import attribute_docs, fields_of, hook_functions, render, split_example

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "plugin-reference.md"
NAMESPACE = {**{name: getattr(api, name) for name in api.__all__}, "Logger": Logger}


def _hints(target: object) -> list[object]:
    """The annotations of a function, or of a class's fields and its protocol methods, resolved."""
    if inspect.isfunction(target):
        hints = typing.get_type_hints(target, globalns=vars(inspect.getmodule(target)), localns=NAMESPACE)
        return list(hints.values())
    assert isinstance(target, type)
    found = list(typing.get_type_hints(target, globalns=vars(inspect.getmodule(target)), localns=NAMESPACE).values())
    if typing.Protocol in target.__mro__ or not dataclasses.is_dataclass(target):
        for name, member in vars(target).items():
            if inspect.isfunction(member) and (not name.startswith("_") or name == "__call__"):
                found += _hints(member)
    return found


def _stillroom_types(annotation: object) -> set[type]:
    """Every stillroom class an annotation names, through generics (``list[Pair]``, ``Callable[[...], DataBundle]``)."""
    if isinstance(annotation, list):
        return set().union(*(_stillroom_types(arg) for arg in annotation)) if annotation else set()
    found = {annotation} if isinstance(annotation, type) and annotation.__module__.startswith("stillroom") else set()
    return found.union(*(_stillroom_types(arg) for arg in typing.get_args(annotation))) if typing.get_args(annotation) else found


def reachable_from_hooks() -> set[type]:
    """The stillroom types the hooks take or return, and, transitively, the types their fields and methods name."""
    seen: set[type] = set()
    frontier = set().union(*(_stillroom_types(hint) for hook in hook_functions() for hint in _hints(hook)))
    while frontier:
        cls = frontier.pop()
        seen.add(cls)
        frontier |= set().union(*(_stillroom_types(hint) for hint in _hints(cls))) - seen
    return seen


def test_every_type_a_hook_takes_or_returns_is_in_the_public_api() -> None:
    reachable = reachable_from_hooks()
    assert {api.DataBundle, api.Pair, api.Policy, api.HardRule, api.EvalInput, api.ArtifactStore} <= reachable  # the walk goes deep
    missing = {cls.__qualname__ for cls in reachable} - {cls.__name__ for cls in api.HOOK_TYPES}
    assert not missing, f"hooks take or return {sorted(missing)}: add them to stillroom.api.HOOK_TYPES and document them"


def test_the_walk_fails_on_a_type_the_api_leaves_out() -> None:
    """The check above can fail: a hook type that names an unexported stillroom class is found."""

    @dataclasses.dataclass
    class Unlisted:
        pair: api.Pair

    assert _stillroom_types(typing.get_type_hints(Unlisted, localns=NAMESPACE)["pair"]) == {api.Pair}
    assert _stillroom_types(collections.abc.Callable[[str, api.Policy], api.DataBundle]) == {api.Policy, api.DataBundle}


@pytest.mark.parametrize("cls", api.HOOK_TYPES, ids=lambda cls: cls.__name__)
def test_each_hook_type_documents_every_field_and_shows_an_example(cls: type) -> None:
    meanings = attribute_docs(cls)
    undocumented = [name for name, _, _ in fields_of(cls) if not meanings.get(name)]
    assert not undocumented, f"{cls.__name__}: fields without a meaning (a docstring under the field): {undocumented}"
    description, example = split_example(cls.__doc__ or "")
    assert description and ">>>" in example, f"{cls.__name__}: its docstring needs a description and an example (Example::)"


@pytest.mark.parametrize("cls", [*api.HOOK_TYPES, *api.HELPERS], ids=lambda cls: cls.__name__)
def test_the_examples_run(cls: type) -> None:
    tests = [test for test in doctest.DocTestFinder(recurse=False).find(cls, cls.__name__, globs={}) if test.examples]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_public_api_exports_what_it_lists() -> None:
    assert len(api.__all__) == len(set(api.__all__))
    assert all(hasattr(api, name) for name in api.__all__)


def test_the_reference_page_is_what_the_code_generates() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), "regenerate: python -m stillroom.plugin_reference > docs/reference/plugin-reference.md"
