"""A run says what it does in its own ``[stillroom]`` lines; the libraries' chatter stays out unless asked for.

Off in a normal run, each through the library's own switch:

- INFO logs of Lightning, transformers, the ONNX exporter (``onnx_ir``, ``onnxscript``) and torch's export;
- transformers' "Loading weights" bars;
- deprecation warnings (``FutureWarning``, ``DeprecationWarning``) and the notices listed in
  :data:`KNOWN_NOTICES`, which say nothing a user of stillroom can act on;
- wandb's own lines: the wandb plugin prints one line naming the run's folder instead.

``verbose=true`` (``stillroom run -v``) or ``HYDRA_FULL_ERROR=1`` leaves all of it on. Warnings not listed here
still show: a new one is news.
"""

from __future__ import annotations

import logging
import os
import warnings

from stillroom.errors import FULL_ERROR_ENV, StillroomDeprecationWarning

LIBRARY_LOGGERS = (
    "lightning.pytorch",
    "lightning.fabric",
    "pytorch_lightning",
    "transformers",
    "onnx_ir",
    "onnxscript",
    "torch.onnx",
    "torch.export",
    "torch._export",
)
KNOWN_NOTICES = (
    r".*There is a wandb run already in progress.*",  # every training stage logs into the job's one wandb run, on purpose
    r".*module\(s\) in eval mode at the start of training.*",  # frozen encoders of the students are in eval mode, on purpose
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",  # Lightning's own use of a torch API
    r".*is smaller than the logging interval.*",  # a small run logs each stage's curve per epoch (history.jsonl) anyway
)
QUIET_ENV = {"WANDB_SILENT": "true", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
"""Environment switches the libraries read, set only where the user has not set them."""


def wants_verbose(verbose: bool) -> bool:
    """Whether the libraries' own output stays on: the config's ``verbose`` or ``HYDRA_FULL_ERROR=1``."""
    return bool(verbose) or os.environ.get(FULL_ERROR_ENV) == "1"


def quiet_libraries(verbose: bool) -> None:
    """Turn the libraries' INFO logs, progress bars and known warnings off for this process, unless ``verbose``."""
    if wants_verbose(verbose):
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("default", category=StillroomDeprecationWarning)  # stillroom's own: the user can act on it
    for message in KNOWN_NOTICES:
        warnings.filterwarnings("ignore", message=message)
