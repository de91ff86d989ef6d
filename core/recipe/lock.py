"""One command at a time in a run folder, and a stop between stages that says how to resume.

Two commands writing one run folder would overwrite each other's stages. The
lock is an OS file lock (``fcntl.flock``) on ``.stillroom.lock``: the kernel
drops it when its process ends, however it ends, so a crashed run never leaves
the folder locked. The file holds the running command's pid and arguments, for
the message the second command prints.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from stillroom.errors import RunInterrupted, StillroomError

LOCK_FILE = ".stillroom.lock"


class RunFolderBusy(StillroomError):
    """Another command holds the run folder."""


@contextmanager
def run_folder_lock(root: Path) -> Iterator[None]:
    """Hold the run folder for this process; another holder is an error that names it."""
    root.mkdir(parents=True, exist_ok=True)
    handle = (root / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunFolderBusy(
            f"another stillroom command is running in this run folder ({holder}); wait for it to end, "
            "or give this one its own folder (hydra.run.dir=DIR)",
            where=str(root),
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
    handle.flush()
    try:
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def stop_between_stages(stage_name: Callable[[], str]) -> Iterator[None]:
    """Inside the block, SIGTERM stops the run with the stage it came in and how to resume; a training stage's own
    handling (Lightning's, which saves a checkpoint first) takes over while it trains. Only the main thread can
    receive signals: elsewhere (a launcher's thread) the block changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise RunInterrupted(f"{stage_name()}: stopped by SIGTERM. Rerun the same command to resume (finished stages are reused)")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
