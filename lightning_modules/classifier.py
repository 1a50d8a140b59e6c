"""`ImageClassifier`: one LightningModule that trains any architecture of the zoo.

It owns the model, the loss, the metrics, the optimizer and the schedule, and nothing
else: where data comes from, where metrics go (MLflow, Ray) and how many devices run it
are the caller's business.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from lightning_modules.metric_names import TRAIN_EPOCH_TIME, TRAIN_IMAGES_PER_SEC, TRAIN_LOSS
from lightning_modules.specs import ModelSpec, Recipe


def global_lr(recipe: Recipe, world_size: int) -> float:
    """The peak lr of a run: `lr`, or with `lr_base_size` the linear scaling rule
    lr x global batch / lr_base_size (Goyal et al. 2017), global batch = batch x ranks."""
    if not recipe.lr_base_size:
        return recipe.lr
    return recipe.lr * recipe.batch_size * world_size / recipe.lr_base_size


def build_schedule(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    """timm's scheduler for the recipe, stepped per optimizer update: linear warm-up from
    `warmup_lr`, then cosine to 0 at the run's end, or x`decay_rate` every `decay_epochs`
    counted from the warm-up's end."""
    after_warmup = max(recipe.epochs - recipe.warmup_epochs, 1 / steps_per_epoch)
    schedule, _ = create_scheduler_v2(
        optimizer,
        sched=recipe.schedule,
        num_epochs=after_warmup,
        decay_epochs=recipe.decay_epochs,
        decay_rate=recipe.decay_rate,
        warmup_lr=recipe.warmup_lr,
        warmup_epochs=recipe.warmup_epochs,
        warmup_prefix=True,
        step_on_epochs=False,
        updates_per_epoch=steps_per_epoch,
    )
    return schedule


def set_bn_momentum(model: nn.Module, momentum: float) -> None:
    """Every BatchNorm's running-stat momentum (PyTorch's convention: TF's decay 0.99 is 0.01)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum


def as_specs(
    model: ModelSpec | Mapping[str, Any], recipe: Recipe | Mapping[str, Any]
) -> tuple[ModelSpec, Recipe]:
    """The specs, from themselves or from the dicts a checkpoint keeps of them."""
    spec = model if isinstance(model, ModelSpec) else ModelSpec.from_dict(model)
    return spec, recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)


def top_k_accuracy(num_classes: int, k: int) -> MulticlassAccuracy:
    """The share of images whose class is among the `k` highest logits: the top-1 of the
    papers' tables and of timm's `accuracy` (torchmetrics' default, the mean of per-class
    accuracies, differs from it on a split whose classes are not equally many)."""
    return MulticlassAccuracy(num_classes=num_classes, top_k=k, average="micro")


class ImageClassifier(pl.LightningModule):
    """Classification of any `build_model` architecture under a `Recipe`.

    Logs `train/loss`, `lr`, `train/images_per_sec`, `train/epoch_time`, `val/loss`,
    `val/acc1` and `val/acc5` (top-5 becomes top-k with k = classes when there are fewer).
    With an EMA of the weights (`ema_decay`) the `val/` metrics are the EMA's, which is
    the model a recipe with an EMA publishes, and `val/acc1_raw`, `val/acc5_raw` and
    `val/loss_raw` are the trained weights'.
    """

    def __init__(
        self,
        model: ModelSpec | Mapping[str, Any],
        recipe: Recipe | Mapping[str, Any],
        num_classes: int,
        in_chans: int = 3,
    ) -> None:
        """`model` and `recipe` as specs, or as the dicts a checkpoint keeps of them, so
        that `ImageClassifier.load_from_checkpoint(path)` rebuilds any run's classifier."""
        super().__init__()
        spec, recipe = as_specs(model, recipe)
        # Plain dicts in the checkpoint: it must load without unpickling our classes. Not
        # sent to the logger: the caller logs a run's params (a resumed run may train more
        # epochs, and MLflow params are immutable).
        self.save_hyperparameters(
            {"model": spec.to_dict(), "recipe": recipe.to_dict(), "num_classes": num_classes,
             "in_chans": in_chans},
            logger=False,
        )  # fmt: skip
        self.recipe = recipe
        self.model = spec.build(num_classes, in_chans, recipe.model_options())
        set_bn_momentum(self.model, recipe.bn_momentum)
        self.ema = None
        if recipe.ema_decay:  # updated after each optimizer step; never trained itself
            self.ema = ModelEmaV3(self.model, decay=recipe.ema_decay, use_warmup=True)
            self.ema.requires_grad_(False).train()  # Lightning switches modes for validation
        self.mixup = None
        if recipe.mixes:  # mixes the batch and smooths the labels into soft targets
            self.mixup = Mixup(
                mixup_alpha=recipe.mixup,
                cutmix_alpha=recipe.cutmix,
                label_smoothing=recipe.label_smoothing,
                num_classes=num_classes,
            )
        self.train_loss = (
            SoftTargetCrossEntropy()
            if self.mixup
            else nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        )
        self.val_loss = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.val_metrics = nn.ModuleDict({
            f"{name}{suffix}": top_k_accuracy(num_classes, k)
            for suffix in self.evaluated()
            for name, k in (("acc1", 1), ("acc5", min(5, num_classes)))
        })  # fmt: skip
        self.channels_last = recipe.channels_last == "on"
        self._prepared = False
        self._epoch_images = 0
        self._epoch_loss_sum = torch.zeros(())
        self._epoch_start = 0.0
        self._last_batch_end = 0.0

    def evaluated(self) -> dict[str, nn.Module]:
        """The networks validation scores, by metric-name suffix: the EMA's are the plain ones."""
        if self.ema is None:
            return {"": self.model}
        return {"": self.ema.module, "_raw": self.model}

    def setup(self, stage: str) -> None:
        """Device-dependent choices, once the Trainer has picked the device: channels-last
        (on CUDA unless the recipe says off) and torch.compile. `nn.Module.compile` keeps
        the state dict's keys, so checkpoints load with compile on or off. Once per module:
        a `validate` after `fit` must not compile again."""
        if self._prepared:
            return
        self._prepared = True
        auto = self.recipe.channels_last == "auto"
        if auto and self.trainer.strategy.root_device.type == "cuda":
            self.channels_last = True
        if self.channels_last:
            for net in self.evaluated().values():
                net.to(memory_format=torch.channels_last)
        if self.recipe.compile:
            self.model.compile()

    def forward(self, images: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return (net or self.model)(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        images, targets = batch
        if self.mixup is not None:
            images, targets = self.mixup(images, targets)
        loss = self.train_loss(self(images), targets)
        # The epoch's mean loss is summed here and logged once, at the epoch's end: a
        # `self.log` per step costs Lightning ~1 ms of bookkeeping, 5% of a LeNet-5 step
        self._epoch_images += images.shape[0]
        self._epoch_loss_sum += loss.detach() * images.shape[0]
        return loss

    def on_train_epoch_start(self) -> None:
        self._epoch_images = 0
        self._epoch_loss_sum = torch.zeros((), device=self.device)
        self._epoch_start = self._last_batch_end = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self) -> None:
        # Throughput over the training batches only (validation runs before this hook):
        # each rank's rate times the ranks, averaged over ranks = the whole job's rate.
        seconds = max(self._last_batch_end - self._epoch_start, 1e-9)
        images = self._epoch_images * self.trainer.world_size
        self.log(TRAIN_IMAGES_PER_SEC, images / seconds, sync_dist=True)
        self.log(TRAIN_EPOCH_TIME, seconds, sync_dist=True)
        mean_loss = self._epoch_loss_sum / max(self._epoch_images, 1)
        self.log(TRAIN_LOSS, mean_loss, prog_bar=True, sync_dist=True)  # each rank's mean
        self.log("lr", self.optimizers().param_groups[0]["lr"])  # where the epoch left it

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        for suffix, net in self.evaluated().items():
            logits = self(images, net)
            self.log(f"val/loss{suffix}", self.val_loss(logits, labels), prog_bar=not suffix,
                     sync_dist=True)  # fmt: skip
            for name in ("acc1", "acc5"):
                metric = self.val_metrics[f"{name}{suffix}"]
                metric(logits, labels)
                self.log(f"val/{name}{suffix}", metric, prog_bar=name == "acc1" and not suffix)

    def configure_optimizers(self):
        recipe = self.recipe
        eps = {} if recipe.optimizer in ("sgd", "momentum") else {"eps": recipe.opt_eps}
        optimizer = create_optimizer_v2(
            self.model,
            opt=recipe.optimizer,
            lr=global_lr(recipe, self.trainer.world_size),
            weight_decay=recipe.weight_decay,  # timm's groups: none on biases and norms
            momentum=recipe.momentum,
            **eps,
        )
        total_steps = max(1, int(self.trainer.estimated_stepping_batches))
        steps_per_epoch = max(1, round(total_steps / max(1, self.trainer.max_epochs or 1)))
        schedule = build_schedule(optimizer, recipe, steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """timm's schedulers are stepped with the update count (it also holds on resume)."""
        scheduler.step_update(num_updates=self.global_step)
