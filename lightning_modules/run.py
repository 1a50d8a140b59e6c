"""What every training run is made of, however it is launched (`ladder train`, a sweep trial).

The classifier and the data module built from the specs and the shards, and the Trainer
settings that do not depend on who drives it: epochs, accelerator and precision. The
callers add their own logger, callbacks and strategy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lightning_modules.specs import ModelSpec, Recipe

if TYPE_CHECKING:  # Lightning is imported where a run is built, not where one is priced
    from lightning_modules.classifier import ImageClassifier
    from lightning_modules.data import ShardDataModule


def in_chans_of(manifest: dict[str, Any]) -> int:
    """1 for grayscale shards (the digits), 3 for RGB (ImageNet)."""
    return int(manifest.get("channels", 3))


def build_run(
    data_dir: str | Path,
    manifest: dict[str, Any],
    spec: ModelSpec,
    recipe: Recipe,
    allow_damaged_shards: bool = False,
) -> tuple[ImageClassifier, ShardDataModule]:
    """The classifier and the data module of one run; the shards decide the classes and
    the input channels. Shards that differ from the manifest are an InputError unless
    `allow_damaged_shards` (see `lightning_modules/shard_check.py`)."""
    from lightning_modules.classifier import ImageClassifier
    from lightning_modules.data import ShardDataModule

    in_chans = in_chans_of(manifest)
    share_cores(recipe.loader_workers)
    classifier = ImageClassifier(spec, recipe, len(manifest["classes"]), in_chans)
    data = ShardDataModule(
        data_dir,
        resolution=spec.resolution,
        batch_size=recipe.batch_size,
        loader_workers=recipe.loader_workers,
        in_chans=in_chans,
        min_crop=recipe.min_crop,
        pad_crop=recipe.pad_crop,
        crop_pct=recipe.crop_pct,
        hflip=recipe.hflip,
        auto_augment=recipe.auto_augment,
        re_prob=recipe.re_prob,
        allow_damaged=allow_damaged_shards,
    )
    return classifier, data


def training_threads(cores: int, loader_workers: int) -> int:
    """The training process's torch threads on a CPU: its cores less one per loader
    worker, at least one (see `share_cores`)."""
    return max(1, cores - loader_workers)


def share_cores(loader_workers: int) -> None:
    """On a CPU, leave each loader worker a core: `training_threads` of the cores this
    process was given (`OMP_NUM_THREADS`, which Ray sets to a worker's CPUs, else the CPUs
    it may run on).

    Torch's default, a thread per core, lets OpenMP threads spin against the loader
    processes: on 2 cores with 2 loader workers, LeNet-5's forward pass took 22 ms
    instead of 3, and Fashion-MNIST trained at 19 steps/s instead of 31. A GPU run keeps
    torch's default (its host threads do little).
    """
    if torch.cuda.is_available():
        return
    given = int(os.environ.get("OMP_NUM_THREADS") or len(os.sched_getaffinity(0)))
    torch.set_num_threads(training_threads(given, loader_workers))


def model_size(spec: ModelSpec, manifest: dict[str, Any]) -> dict[str, int]:
    """`model/params` and `model/macs` of the run's model for these shards."""
    return spec.size(len(manifest["classes"]), in_chans_of(manifest))


def default_precision() -> str:
    """bf16 mixed precision where the GPU supports it, full fp32 elsewhere (CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def trainer_settings(recipe: Recipe) -> dict[str, Any]:
    """The `pl.Trainer` arguments every run shares: cuDNN picks its fastest kernels on
    GPUs (fixed input sizes), SyncBN applies under DDP only."""
    return {
        "max_epochs": recipe.epochs,
        "accelerator": "auto",
        "precision": default_precision(),
        "benchmark": torch.cuda.is_available(),
        "gradient_clip_val": recipe.grad_clip or None,
        "sync_batchnorm": recipe.sync_bn,
    }
