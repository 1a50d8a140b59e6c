"""The feeding half of `ladder gpu-check`: a short training run timing how long each step
waits for its batch. Apart from `pipeline/bench/gpu_check.py` so that the command can refuse a
machine without a GPU before torch and Lightning are imported (seconds of import time).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from lightning_modules.recipes import RECIPES
from lightning_modules.run import build_run, trainer_settings
from lightning_modules.specs import resolve_model
from pipeline.bench.suite import synthetic_shards

BUSY_GOAL = 0.9


class DataWait(pl.Callback):
    """How long each training step waited for its batch, against the whole step.

    The GPU is synchronised at each step's end, so that a step's compute is charged to
    the step and not to the wait for the next batch. The first `skip` steps of each epoch
    (loader start-up, cuDNN autotuning) are left out.
    """

    def __init__(self, skip: int = 5) -> None:
        self.skip = skip
        self.waited = self.total = 0.0
        self._end: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._end = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._end is not None and batch_idx >= self.skip:
            self.waited += now - self._end
            self.total += now - self._end
        self._start = now

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._end = time.perf_counter()
        if batch_idx >= self.skip:
            self.total += self._end - self._start


def feeding_check(
    arch: str, resolution: int, batch_size: int, loader_workers: int, photos: int
) -> dict[str, Any]:
    """2 epochs of `arch` on `photos` synthetic photos' shards; the GPU's busy fraction."""
    recipe = RECIPES["default"].with_overrides(
        {"epochs": 2, "batch_size": batch_size, "loader_workers": loader_workers}
    )
    spec = resolve_model(arch, resolution)
    with tempfile.TemporaryDirectory(prefix="ladder-gpu-check-") as folder:
        start = time.perf_counter()
        _, shards = synthetic_shards(Path(folder), photos, loader_workers)
        made_s = time.perf_counter() - start
        manifest = json.loads((shards / "manifest.json").read_text())
        classifier, data = build_run(shards, manifest, spec, recipe)
        wait = DataWait()
        trainer = pl.Trainer(**trainer_settings(recipe), devices=1, logger=False,
                             enable_checkpointing=False, limit_val_batches=0,
                             num_sanity_val_steps=0, callbacks=[wait],
                             enable_progress_bar=False, default_root_dir=folder)  # fmt: skip
        start = time.perf_counter()
        trainer.fit(classifier, datamodule=data)
        fit_s = time.perf_counter() - start
    busy = 1 - wait.waited / wait.total if wait.total else 0.0
    return {
        "arch": arch,
        "photos": photos,
        "loader_workers": loader_workers,
        "shards_made_s": round(made_s, 1),
        "fit_s": round(fit_s, 1),
        "busy_fraction": round(busy, 3),
        "goal": BUSY_GOAL,
        "met": busy >= BUSY_GOAL,
    }
