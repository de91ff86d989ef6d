"""Training with Lightning: the loop, checkpoints and resume, batches of whole requests, several processes, and what training stages share.

``stillroom.training`` keeps the names plugins and scripts import from it; they live in :mod:`.loop`.
"""

from stillroom.training.loop import (
    NumericFault,
    PairCollator,
    PairDataset,
    TargetShapes,
    TrainItem,
    fit,
    selected_by,
    warmup_cosine,
)

__all__ = ["NumericFault", "PairCollator", "PairDataset", "TargetShapes", "TrainItem", "fit", "selected_by", "warmup_cosine"]
