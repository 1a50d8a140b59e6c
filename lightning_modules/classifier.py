"""`ImageClassifier`: one LightningModule that trains any architecture of the zoo.

It owns the model, the loss, the metrics, the optimizer and the schedule, and nothing
else: where data comes from, where metrics go (MLflow, Ray) and how many devices run it
are the caller's business.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from lightning_modules.specs import ModelSpec, Recipe


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear warm-up from ~0 to 1, then cosine decay to 0 at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def split_weight_decay(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two param groups: weights decay; biases and norm scales/shifts (all 1-d tensors) don't.

    Decaying BatchNorm gammas and biases only fights the normalisation and hurts accuracy.
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class ImageClassifier(pl.LightningModule):
    """Cross-entropy classification of any `build_model` architecture.

    Logs `train/loss`, `lr`, `train/images_per_sec`, `train/epoch_time`, `val/loss`,
    `val/acc1` and `val/acc5` (top-5 becomes top-k with k = classes when there are fewer).
    """

    def __init__(
        self, spec: ModelSpec, recipe: Recipe, num_classes: int, in_chans: int = 3
    ) -> None:
        super().__init__()
        # Plain dicts in the checkpoint: it must load without unpickling our classes. Not
        # sent to the logger: the caller logs a run's params (a resumed run may train more
        # epochs, and MLflow params are immutable).
        self.save_hyperparameters(
            {"model": spec.to_dict(), "recipe": recipe.to_dict(), "num_classes": num_classes,
             "in_chans": in_chans},
            logger=False,
        )  # fmt: skip
        self.recipe = recipe
        self.model = spec.build(num_classes, in_chans)
        if recipe.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.val_acc1 = MulticlassAccuracy(num_classes=num_classes, top_k=1)
        self.val_acc5 = MulticlassAccuracy(num_classes=num_classes, top_k=min(5, num_classes))
        self._epoch_images = 0
        self._epoch_start = 0.0
        self._last_batch_end = 0.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.recipe.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        images, labels = batch
        loss = self.criterion(self(images), labels)
        self._epoch_images += images.shape[0]
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, sync_dist=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_images = 0
        self._epoch_start = self._last_batch_end = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        # Throughput over the training batches only (validation runs before this hook):
        # each rank's rate times the ranks, averaged over ranks = the whole job's rate.
        seconds = max(self._last_batch_end - self._epoch_start, 1e-9)
        images = self._epoch_images * self.trainer.world_size
        self.log("train/images_per_sec", images / seconds, sync_dist=True)
        self.log("train/epoch_time", seconds, sync_dist=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self(images)
        self.log("val/loss", self.criterion(logits, labels), prog_bar=True, sync_dist=True)
        self.val_acc1(logits, labels)
        self.val_acc5(logits, labels)
        self.log("val/acc1", self.val_acc1, prog_bar=True)
        self.log("val/acc5", self.val_acc5)

    def configure_optimizers(self):
        recipe = self.recipe
        groups = split_weight_decay(self.model, recipe.weight_decay)
        if recipe.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=True
            )
        elif recipe.optimizer == "rmsprop":  # EfficientNet's recipe (TF-style eps and decay)
            optimizer = torch.optim.RMSprop(
                groups, lr=recipe.lr, alpha=0.9, eps=1e-3, momentum=recipe.momentum
            )
        else:
            optimizer = torch.optim.AdamW(groups, lr=recipe.lr)
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        steps_per_epoch = total_steps / max(1, self.trainer.max_epochs or 1)
        warmup_steps = max(1, round(recipe.warmup_epochs * steps_per_epoch))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, warmup_steps, total_steps)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
