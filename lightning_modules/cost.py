"""What a trained model costs to run, measured where it trained: a Lightning callback.

After the last training epoch, rank 0 measures its model on its own device at the run's
resolution: inference images/s at batch 64, latency at batch 1, and the peak memory of
training so far (`lightning_modules.measure`). The values join the epoch's logged metrics
as `model/infer_images_per_sec`, `model/latency_ms` and `model/peak_memory_mb`, so the
callback that reports the epoch (a `Checkpoint` callback, which Lightning runs after
this one) reports them too, and the run's own Lightning logger, where it has one (`ladder
train`), logs them. Training images/s is logged every epoch by the classifier.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from lightning_modules.measure import PeakMemory, device_of, infer_images_per_sec, latency_ms
from lightning_modules.metric_names import (
    MODEL_INFER_IMAGES_PER_SEC,
    MODEL_LATENCY_MS,
    MODEL_PEAK_MEMORY_MB,
)

INFERENCE_BATCH = 64


class MeasureCost(pl.Callback):
    """Measures the model's speed and memory once, at the end of the last epoch."""

    def __init__(self, resolution: int, in_chans: int) -> None:
        self.resolution = resolution
        self.in_chans = in_chans
        self.memory: PeakMemory | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.memory = PeakMemory(device_of(pl_module)).start()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch + 1 < trainer.max_epochs or not trainer.is_global_zero:
            return
        peak = self.memory.bytes() if self.memory else 0
        net = pl_module.model  # the network itself: no DDP wrapper, no gradient syncing
        measured = {
            MODEL_INFER_IMAGES_PER_SEC: infer_images_per_sec(
                net, self.resolution, INFERENCE_BATCH, self.in_chans
            ),
            MODEL_LATENCY_MS: latency_ms(net, self.resolution, self.in_chans),
            MODEL_PEAK_MEMORY_MB: peak / 2**20,
        }
        trainer.callback_metrics.update(
            {key: torch.tensor(value) for key, value in measured.items()}
        )
        if trainer.logger is not None:  # `ladder train`'s run; a sweep's trial has none
            trainer.logger.log_metrics(measured, step=trainer.global_step)
