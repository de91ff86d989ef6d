"""torch internals: the module methods that move and load weights, and the text a failed worker sends back."""

from __future__ import annotations

import re

import torch


class DropsCachesWhenMoved(torch.nn.Module):
    """A module that keeps tensors computed from its weights (embeddings, cached candidates) and must forget them
    when its weights are moved or cast (``.to(device)``, ``.half()``: :meth:`weights_moved`) or loaded
    (:meth:`weights_loaded`)."""

    def weights_moved(self) -> None:
        """Called before its weights are moved or cast."""

    def weights_loaded(self) -> None:
        """Called before a state dict is loaded into it."""

    def _apply(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.weights_moved()
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.weights_loaded()
        super()._load_from_state_dict(*args, **kwargs)


_EXCEPTION_LINE = re.compile(r"^(?P<kind>[A-Za-z_][\w.]*): (?P<message>.*)$")


def worker_exception(error: BaseException) -> tuple[str, str]:
    """The exception a worker raised, from the traceback text ``torch.multiprocessing`` sent back (its
    ``ProcessRaisedException`` carries no exception object): the class's qualified name and the message.

    The message is everything after the last line that starts with a qualified
    class name and a colon, so a message of several lines comes back whole.
    """
    lines = str(error).strip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        found = _EXCEPTION_LINE.match(lines[index])
        if found and "." in found["kind"]:
            return found["kind"], "\n".join([found["message"], *lines[index + 1 :]]).strip()
    return "", str(error)
