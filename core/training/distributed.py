"""Training and labeling on several processes: who this process is, and what a worker's failure was.

stillroom runs data-parallel work with Lightning's strategies that start
their workers inside one ``trainer.fit`` or ``trainer.predict`` call
(``ddp_fork``, ``ddp_spawn``): every other stage runs once, in the main
process, and the artifacts are written there. The samplers shard themselves
(:mod:`stillroom.training.sampling`), so they read the process group lazily, when a
worker iterates them, not when the main process builds them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.multiprocessing import ProcessRaisedException

from stillroom.compat.torch import worker_exception
from stillroom.errors import StillroomError


def process_rank() -> tuple[int, int]:
    """This process's rank and the number of processes: ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def user_error_from_worker(error: ProcessRaisedException) -> StillroomError | None:
    """A worker's user error (a :class:`StillroomError` or a subclass) as the main process raises it; ``None`` for a bug.

    The error is rebuilt from its text, not constructed again: its message is
    the worker's whole ``where: message`` line, so it reads the same.
    """
    kind, message = worker_exception(error)
    user_errors = {f"{cls.__module__}.{cls.__qualname__}": cls for cls in _subclasses(StillroomError)}
    if kind not in user_errors:
        return None
    rebuilt = user_errors[kind].__new__(user_errors[kind])
    StillroomError.__init__(rebuilt, message)
    return rebuilt


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
        if worker_exception(error)[0].rsplit(".", 1)[-1] == SIGTERMException.__name__:
            raise SIGTERMException() from None
        raise user_error_from_worker(error) or error from None


@contextmanager
def workers_stopped_on_sigterm(enabled: bool = True) -> Iterator[None]:
    """Inside the block, a SIGTERM to the main process ends the workers it started, then stops the job here.

    Lightning's own SIGTERM handling lives in the workers, and signalled from
    outside its ranks fall out of step (a broadcast in a signal handler) and
    hang; left alone, the main process dies of the signal at once and the
    workers train on by themselves. So the workers are killed, and the job
    stops with :class:`SIGTERMException` as it does on one process. What rank
    zero saved at the end of each epoch stays: a rerun resumes from the last
    finished epoch, not from the step the signal came at.

    On one process, Lightning's own handling applies alone (it saves a
    checkpoint and stops at the next step): a handler set outside, such as the
    recipe's stop between stages, is set aside while Lightning trains, for
    Lightning would call it too and it stops at once.
    """
    if not enabled:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        outside = signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, outside)
        return

    def stop(signum: int, frame: object) -> None:
        for worker in multiprocessing.active_children():
            os.kill(worker.pid, signal.SIGKILL)
        raise SIGTERMException()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def as_one_process(distributed: bool = True) -> Iterator[None]:
    """Inside the block, work that runs in worker processes stops and fails as one process would: a SIGTERM ends the
    workers and the job (:func:`workers_stopped_on_sigterm`), a worker's failure is raised here (:func:`worker_failures_raised_here`)."""
    with worker_failures_raised_here(), workers_stopped_on_sigterm(distributed):
        yield
