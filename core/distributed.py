"""Training and labeling on several processes: who this process is, and what a worker's failure was.

stillroom runs data-parallel work with Lightning's strategies that start
their workers inside one ``trainer.fit`` or ``trainer.predict`` call
(``ddp_fork``, ``ddp_spawn``): every other stage runs once, in the main
process, and the artifacts are written there. The samplers shard themselves
(:mod:`stillroom.sampling`), so they read the process group lazily, when a
worker iterates them, not when the main process builds them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.multiprocessing import ProcessRaisedException

from stillroom.errors import StillroomError

_LAST_LINE = re.compile(r"^(?P<kind>[\w.]+): (?P<message>.*)$")


def process_rank() -> tuple[int, int]:
    """This process's rank and the number of processes: ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def worker_error(error: ProcessRaisedException) -> tuple[str, str]:
    """The exception class name and message a worker raised, read from the traceback text it sent back."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    found = _LAST_LINE.match(lines[-1]) if lines else None
    return (found["kind"].rsplit(".", 1)[-1], found["message"]) if found else ("", str(error))


def user_error_from_worker(error: ProcessRaisedException) -> StillroomError | None:
    """A worker's user error (a :class:`StillroomError` or a subclass) as one the main process raises; ``None`` for a bug."""
    kind, message = worker_error(error)
    user_errors = {cls.__name__: cls for cls in _subclasses(StillroomError)}
    if kind not in user_errors:
        return None
    where, _, text = message.partition(": ")
    return user_errors[kind](text, where) if text else user_errors[kind](message)


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


@contextmanager
def worker_failures_raised_here() -> Iterator[None]:
    """Inside the block, a worker's SIGTERM or user error is raised again as the main process would have raised it."""
    try:
        yield
    except ProcessRaisedException as error:
        if worker_error(error)[0] == SIGTERMException.__name__:
            raise SIGTERMException() from None
        raise user_error_from_worker(error) or error from None
