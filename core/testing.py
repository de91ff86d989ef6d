"""Testing a plugin: register it for one test, run a tiny recipe of a product in a temporary folder, read the report.

Functions for any test runner, and two pytest fixtures, ``stillroom_plugin`` and ``tiny_recipe``, which a plugin's
test suite enables with one line in its ``conftest.py``: ``pytest_plugins = ["stillroom.testing"]``::

    from stillroom import hookimpl

    class Recorder:
        def __init__(self):
            self.stages = []

        @hookimpl
        def stillroom_after_stage(self, stage):
            self.stages.append(stage)

    def test_my_observer_sees_every_stage(stillroom_plugin, tiny_recipe):
        recorder = stillroom_plugin(Recorder())
        report = tiny_recipe("widgets")
        assert recorder.stages[0] == "prepare" and "student" in report["models"]

The run goes through the ``stillroom run`` command in this process, so a plugin registered for the test takes part
in it, and it is the whole recipe: the smoke experiment's tiny models and world, every stage, the report.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from stillroom.artifacts import ArtifactStore
from stillroom.plugin_manager import get_plugin_manager
from stillroom.stages import report as report_stage

try:
    import pytest
except ImportError:  # the functions serve any test runner; the fixtures need pytest
    pytest = None

P = TypeVar("P")

TINY = ("experiment=smoke",)
"""What makes a recipe tiny: the smoke experiment (tiny teacher and student, a tiny world, no logger, gates off)."""


class TinyRunFailed(AssertionError):
    """The tiny run stopped: its exit status and the last lines it wrote to stderr say why."""


@contextlib.contextmanager
def registered(plugin: P, name: str | None = None) -> Iterator[P]:
    """``plugin`` registered on the process-wide plugin manager for the ``with`` block, and unregistered after.

    Safe beside the installed plugins: a plugin already registered (the entry point of the package under test,
    registered again by a test) is used as it is and left registered; a different plugin registered under
    ``name`` steps aside for the block, instead of the collision pluggy raises, and comes back after in its own
    place in the call order (the plugins registered after it are registered again after it).
    """
    pm = get_plugin_manager().pm
    if pm.is_registered(plugin):
        yield plugin
        return
    order = [entry for entry, registered_plugin in pm.list_name_plugin() if registered_plugin is not None]
    displaced = pm.unregister(name=name) if name is not None and pm.get_plugin(name) is not None else None
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(plugin)
        if displaced is not None:
            later = [(entry, pm.unregister(name=entry)) for entry in order[order.index(name) + 1 :] if pm.get_plugin(entry) is not None]
            for entry, restored in [(name, displaced), *later]:
                pm.register(restored, name=entry)


def run_tiny_recipe(product: str, folder: Path, *overrides: str) -> dict[str, Any]:
    """Run the whole recipe of ``product``, tiny (``experiment=smoke``), in ``folder``; return its ``report.json``.

    ``overrides`` are more ``stillroom run`` arguments (``"student=bi_encoder"``, ``"export.onnx=true"``); they come
    after the smoke experiment, so they win. A run that stops raises :class:`TinyRunFailed` with its exit status and
    what it said on stderr. A second call with the same ``folder`` reuses the stages that finished.
    """
    from hydra.core.global_hydra import GlobalHydra

    from stillroom.cli import main

    argv = ["run", f"product={product}", *TINY, f"hydra.run.dir={folder}", *overrides]
    said = io.StringIO()
    GlobalHydra.instance().clear()
    with _process_state_kept(), contextlib.redirect_stderr(_Tee(sys.stderr, said)):
        try:
            status = main(argv)
        except SystemExit as exit_:
            status = 0 if exit_.code is None else exit_.code if isinstance(exit_.code, int) else 1
        finally:
            GlobalHydra.instance().clear()
    if status != 0:
        tail = "\n".join(said.getvalue().strip().splitlines()[-20:])
        raise TinyRunFailed(f"stillroom {' '.join(argv)} exited {status}:\n{tail}")
    return ArtifactStore(Path(folder)).read_json(report_stage.NAME, report_stage.JSON.file)


@contextlib.contextmanager
def _process_state_kept() -> Iterator[None]:
    """What a ``stillroom run`` changes in its process, put back after it: ``sys.argv``, the environment (the offline
    defaults it sets) and the root logger Hydra's job logging configures (its handlers write into the run folder
    and the test's captured streams, which close when the test ends)."""
    argv, environ = list(sys.argv), dict(os.environ)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        sys.argv = argv
        os.environ.clear()
        os.environ.update(environ)
        for handler in set(root.handlers) - set(handlers):
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


class _Tee(io.TextIOBase):
    """Writes to the test's stderr and keeps a copy, so a failed run's message is both shown and raised."""

    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def fileno(self) -> int:  # what asks for a descriptor (faulthandler, a subprocess) gets the real stream's
        return self.streams[0].fileno()

    def isatty(self) -> bool:
        return self.streams[0].isatty()


def plugin_registrar() -> Iterator[Callable[..., Any]]:
    """Register plugins for one test: ``register(plugin, name=None)`` returns the plugin; all are unregistered when
    the generator closes (:func:`registered`). The ``stillroom_plugin`` fixture."""
    with contextlib.ExitStack() as stack:
        yield lambda plugin, name=None: stack.enter_context(registered(plugin, name))


if pytest is not None:
    stillroom_plugin = pytest.fixture(plugin_registrar, name="stillroom_plugin")

    @pytest.fixture
    def tiny_recipe(tmp_path: Path) -> Callable[..., dict[str, Any]]:
        """``tiny_recipe(product, *overrides)``: :func:`run_tiny_recipe` in the test's temporary folder."""
        return lambda product, *overrides: run_tiny_recipe(product, tmp_path / "run", *overrides)
