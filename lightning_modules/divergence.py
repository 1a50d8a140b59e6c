"""A run whose training loss blows up ends early, as `diverged`, instead of finishing its
epochs at chance accuracy and exiting 0.

Lightning's own `EarlyStopping` on the epoch's mean `train/loss`, set to stop only for
divergence: a non-finite loss, or one above `FACTOR` x ln(num_classes). ln(C) is the
cross-entropy of a uniform guess over C classes, the loss a fresh network starts near
(label smoothing and mixup's soft targets leave it so); a network that does 10x worse
than guessing after an epoch has diverged (with lr 10000 the digits reached 132,666),
whereas healthy runs stay at or below ln(C) from the first epoch on. Patience never runs
out: a loss that merely stops improving is no divergence.

When it stops, `diverged` = 1 joins the epoch's metrics (a sweep trial reports it, the
run's logger gets it) and `line()` says why.
"""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.callbacks.early_stopping import EarlyStoppingReason

from lightning_modules.metric_names import DIVERGED, TRAIN_LOSS

FACTOR = 10.0


class Divergence(EarlyStopping):
    """Stops the run at the end of the epoch whose train/loss diverged (see the module)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__(
            monitor=TRAIN_LOSS,
            mode="min",
            patience=2**31,
            check_finite=True,
            divergence_threshold=FACTOR * math.log(max(2, num_classes)),
            check_on_train_epoch_end=True,
        )

    @property
    def diverged(self) -> bool:
        reasons = (EarlyStoppingReason.DIVERGENCE_THRESHOLD, EarlyStoppingReason.NON_FINITE_METRIC)
        return self.stopping_reason in reasons

    def line(self) -> str:
        return f"diverged at epoch {self.stopped_epoch + 1}: {self.stopping_reason_message}"

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.diverged and self.stopped_epoch == trainer.current_epoch:
            trainer.callback_metrics[DIVERGED] = torch.tensor(1.0)
            if trainer.logger is not None:
                trainer.logger.log_metrics({DIVERGED: 1.0}, step=trainer.global_step)
