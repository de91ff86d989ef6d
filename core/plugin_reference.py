"""The plugin authors' reference, generated from the code: the hooks, the types they take and return, the configs.

``docs/reference/plugin-reference.md`` is :func:`render`'s output (``python -m stillroom.plugin_reference >
docs/reference/plugin-reference.md``); a test fails when the page and the code drift apart, when a hook takes
or returns a stillroom type that :mod:`stillroom.api` does not export, or when such a type leaves a field
without a meaning or comes without an example. Field meanings are the attribute docstrings under each field
(the string literal after it, as Sphinx and griffe read them), read here from the source with :mod:`ast`:
the runtime keeps no trace of them, and a documentation generator that does would be a dependency for one page.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from omegaconf import MISSING, OmegaConf

from stillroom import api, hookspecs
from stillroom.config.schema import DataSchema, ProductSchema

EXAMPLE = "Example::"
"""The line in a docstring after which its example (doctest lines, indented) begins."""


def hook_functions() -> list[Callable[..., Any]]:
    """Every hook in :mod:`stillroom.hookspecs`, in the order the module declares them."""
    return [value for name, value in vars(hookspecs).items() if name.startswith("stillroom_") and callable(value)]


def hook_kind(hook: Callable[..., Any]) -> str:
    """``first answer`` (firstresult), ``observer`` (returns nothing) or ``contribute``."""
    if getattr(hook, "stillroom_spec", {}).get("firstresult"):
        return "first answer"
    return "observer" if inspect.signature(hook).return_annotation in (None, "None") else "contribute"


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstring under each annotated attribute of ``cls`` (``name: type`` then a string literal)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


def signature_text(function: Callable[..., Any], skip_first: bool = False) -> str:
    """``(name: type = default, ...) -> type`` as the source writes it: annotations are strings here (postponed
    evaluation), defaults are shown as values; ``skip_first`` leaves out a method's ``self`` or ``cls``."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())[1 if skip_first else 0 :]
    shown = []
    for parameter in parameters:
        text = f"{'**' if parameter.kind is parameter.VAR_KEYWORD else '*' if parameter.kind is parameter.VAR_POSITIONAL else ''}{parameter.name}"
        if parameter.annotation is not parameter.empty:
            text += f": {parameter.annotation}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        shown.append(text)
    returns = "" if signature.return_annotation is signature.empty else f" -> {signature.return_annotation}"
    return f"({', '.join(shown)}){returns}"


def split_example(doc: str) -> tuple[str, str]:
    """A docstring's description and its example (dedented doctest lines; empty when it has none)."""
    description, _, example = inspect.cleandoc(doc).partition(EXAMPLE)
    return description.strip(), textwrap.dedent(example).strip()


def markdown(text: str) -> str:
    """Docstring markup as markdown: a Sphinx role (``:class:`~stillroom.data.Pair```) becomes its name in code."""
    return re.sub(r":\w+:`(~?)([\w.]+)`", lambda m: f"``{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}``", text)


def fields_of(cls: type) -> list[tuple[str, str, str]]:
    """``(name, type, default)`` of each field a type declares: a dataclass's fields, a protocol's attributes."""
    if dataclasses.is_dataclass(cls):
        return [(f.name, str(f.type), _default(f)) for f in dataclasses.fields(cls)]
    annotations = {name: value for name, value in vars(cls).get("__annotations__", {}).items() if not name.startswith("_")}
    return [(name, str(annotation), "") for name, annotation in annotations.items()]


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING and field.default != MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        return f"`{field.default_factory()!r}`"
    return "required"


def methods_of(cls: type) -> Iterator[tuple[str, str]]:
    """``(signature, first line of its docstring)`` of each public method and property ``cls`` defines itself."""
    for name, value in vars(cls).items():
        if name.startswith("_") and name != "__call__":
            continue
        function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
        if not inspect.isfunction(function) or getattr(function, "stillroom_impl", None):
            continue
        signature = signature_text(function, skip_first=not isinstance(vars(cls).get(name), staticmethod))
        if isinstance(value, property):
            signature = f" (property) -> {signature.split(' -> ')[-1]}"
        summary = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        yield f"{name}{signature}", summary


def _row(*cells: str) -> str:
    """A markdown table row; a ``|`` inside a cell (``int | None``) is escaped so that it does not split the cell."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _type_section(cls: type) -> list[str]:
    description, example = split_example(cls.__doc__ or "")
    lines = [f"### `{cls.__name__}`", "", f"`from stillroom.api import {cls.__name__}` (defined in `{cls.__module__}`)", "", markdown(description), ""]
    if fields_of(cls):
        lines += [*_field_table(cls, "field"), ""]
    methods = list(methods_of(cls))
    if methods:
        lines += [f"- `{signature}`{': ' + markdown(summary) if summary else ''}" for signature, summary in methods]
        lines.append("")
    if example:
        lines += ["```python", example, "```", ""]
    return lines


def _hook_section(hook: Callable[..., Any]) -> list[str]:
    signature = signature_text(hook)
    return [f"### `{hook.__name__}{signature}`", "", f"*{hook_kind(hook)}*", "", markdown(inspect.cleandoc(hook.__doc__ or "")), ""]


def _field_table(cls: type, heading: str) -> list[str]:
    """The table of a type's fields (``heading`` names the first column: ``field``, or a config's ``key``)."""
    meanings = attribute_docs(cls)
    rows = [f"| {heading} | type | default | meaning |", "|---|---|---|---|"]
    return rows + [_row(f"`{name}`", f"`{kind}`", default, markdown(meanings.get(name, ""))) for name, kind, default in fields_of(cls)]


def _smoke_data_keys() -> list[str]:
    smoke = OmegaConf.load(str(resources.files("stillroom.conf").joinpath("experiment/smoke.yaml")))
    return [f"`data.{key}: {value}`" for key, value in smoke.get("data", {}).items()]


def _config_section() -> list[str]:
    return [
        "## The product config",
        "",
        "`conf/product/NAME.yaml` in your package, on the config search path (`stillroom_config_searchpath`). Its keys",
        "(under `product:` when the file starts with `# @package _global_`, which lets it also set keys outside the groups,",
        "such as `gate`; [configuration.md](configuration.md#precedence)) are checked before any stage runs:",
        "",
        *_field_table(ProductSchema, "key"),
        "",
        "`world:`, which the built-in `data=synthetic` config reads through `${product.world.KEY}`, holds a",
        f"`{api.WorldSize.__name__}`: every key is required when the product's data is its synthetic world.",
        "",
        *_field_table(api.WorldSize, "key"),
        "",
        "## The data config",
        "",
        "`data.name` names a data source (a `DataSourceSpec`); every other key of the `data` group reaches its `read`",
        "as `data_config`, as plain Python objects:",
        "",
        *_field_table(DataSchema, "key"),
        "",
        f"`experiment=smoke` shrinks a run through the data config: it sets {', '.join(_smoke_data_keys())}.",
        "A data source that reads these keys (the synthetic worlds do, through `WorldSize.from_config`) runs a",
        "smoke test in seconds; one that ignores them runs its full size under `experiment=smoke`.",
        "",
    ]


def render() -> str:
    """The whole reference page, as markdown."""
    lines = [
        "# Plugin reference",
        "",
        "<!-- Generated by `python -m stillroom.plugin_reference > docs/reference/plugin-reference.md`; edit the",
        "docstrings in the code, not this page. tests/test_plugin_reference.py fails when they differ. -->",
        "",
        "Every name a plugin needs is in `stillroom.api` (`from stillroom.api import DataBundle, hookimpl`); the",
        "hooks' own module is `stillroom.hookspecs`. How to write, register, ship and test a plugin:",
        "[plugins.md](../plugins.md).",
        "",
        "## Hooks",
        "",
    ]
    for hook in hook_functions():
        lines += _hook_section(hook)
    lines += ["## Types the hooks take and return", ""]
    for cls in api.HOOK_TYPES:
        lines += _type_section(cls)
    lines += ["## Helpers", ""]
    for cls in api.HELPERS:
        lines += _type_section(cls)
    lines += ["## Functions", ""]
    for function in api.FUNCTIONS:
        signature = signature_text(function)
        lines += [f"### `{function.__name__}{signature}`", "", f"`from stillroom.api import {function.__name__}`", "", markdown(inspect.cleandoc(function.__doc__ or "")), ""]
    lines += ["## Constants", "", "| name | value |", "|---|---|"]
    lines += [_row(f"`{name}`", f"`{value!r}`") for name, value in api.CONSTANTS.items()]
    lines += ["", *_config_section()]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
