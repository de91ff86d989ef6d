"""Errors a user can cause, as opposed to bugs.

The CLI turns a :class:`StillroomError` into one or two lines on stderr and exit
status 2, without a traceback: bad input deserves a clear answer, not a stack.
"""

from __future__ import annotations

import difflib
import os
import sys
import traceback
from collections.abc import Iterable

USAGE_EXIT_CODE = 2
FULL_ERROR_ENV = "HYDRA_FULL_ERROR"
"""Set to 1 to see the traceback behind a user error too (Hydra's own switch for the same thing)."""


class StillroomError(Exception):
    """A problem with the user's input: a file, a config value, a missing model.

    ``where`` names the file (and the place in it) and the message says what was
    expected, so the user can fix it without reading the code.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


GATE_EXIT_CODE = 3
"""A gate held the run back on purpose (the policy gate, the compliance check): distinct from bad input's 2, so a CI
can tell "the model is not good enough" from "the command is wrong"."""
BROKEN_DECLARATION_EXIT_CODE = 1
"""A stage broke its own declaration (:class:`BrokenDeclaration`): a bug, not bad input."""


class GateFailed(StillroomError):
    """A quality or policy gate stopped the run on purpose (exit status :data:`GATE_EXIT_CODE`)."""


GATE_FAILED_FILE = "gate_failed.json"
"""In a multirun job's folder when a gate stopped that job (the others go on): the stage and the reason."""


class RunInterrupted(Exception):
    """The job was asked to stop (SIGTERM) and saved what it needs to resume; not a user error, not a bug."""

    exit_code = 128 + 15  # what a shell reports for a process ended by SIGTERM

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def did_you_mean(name: object, options: Iterable[str]) -> str:
    """`` (did you mean 'NAME'?)`` when one of ``options`` is close to ``name``, else nothing: appended to an error."""
    near = difflib.get_close_matches(str(name), list(options), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


class StillroomDeprecationWarning(DeprecationWarning):
    """Something a plugin, a config or a script uses still works, and stops working in a named release; the message
    says what to write instead. Shown even where other deprecation warnings are kept quiet."""


class BrokenDeclaration(RuntimeError):
    """A stage touched config or an artifact its declaration does not name: the contract and the code disagree. A
    bug in the stage, not in the user's input: the run stops in one line naming the stage and what it touched."""


def report_error(error: StillroomError | BrokenDeclaration) -> None:
    """One or two lines on stderr; the traceback too when ``HYDRA_FULL_ERROR=1``."""
    if os.environ.get(FULL_ERROR_ENV) == "1":
        traceback.print_exception(error, file=sys.stderr)
    print(f"stillroom: error: {error}", file=sys.stderr)
