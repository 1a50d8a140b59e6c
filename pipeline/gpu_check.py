"""`ladder gpu-check`: the GPU path, checked in one short run (`make gpu-check`, <= 8 min).

1. Model speed: `ladder bench model` for resnet50 and efficientnet_b0 at 224 px (bf16
   autocast, channels-last), torch.compile off and on; inference images/s beside timm's
   published figures (`gpu_references.json`) for the same GPU class where timm has one.
2. Feeding: a 2-epoch run of resnet50 as `ladder train` builds it (`build_run`, the
   Trainer settings, the shard loader) on synthetic photo shards, timing how long each
   step waits for its batch. The loader keeps up when the GPU is busy >= 90% of the step.

It needs torch, timm, pytorch-lightning and webdataset, not Ray or MLflow (so it runs on a
bare GPU image that has `lightning` beside `pytorch-lightning`: this project imports only
the latter). It prints JSON and writes it to `--out`; the exit status is 0 when the
feeding goal is met on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from lightning_modules.recipes import RECIPES
from lightning_modules.run import build_run, trainer_settings
from lightning_modules.specs import resolve_model
from pipeline.bench import bench_model, synthetic_shards

REFERENCES = Path(__file__).with_name("gpu_references.json")
BUSY_GOAL = 0.9


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default="resnet50,efficientnet_b0", help="speed: models")
    parser.add_argument("--train-arch", default="resnet50", help="feeding: the model trained")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="speed: timed steps per mode")
    parser.add_argument("--photos", type=int, default=8192, help="feeding: synthetic photos")
    parser.add_argument("--loader-workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--out", type=Path, help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    speed = [model_speed(args, compile_) for compile_ in (False, True)]
    feeding = feeding_check(args)
    result = {
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "torch": torch.__version__,
        "speed": speed,
        "published": published_for(speed[0]["device"]),
        "feeding": feeding,
    }
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if device == "cuda" and feeding["busy_fraction"] >= BUSY_GOAL else 1


def model_speed(args: argparse.Namespace, compile_: bool) -> dict[str, Any]:
    bench = argparse.Namespace(arch=args.arch, resolution=args.resolution,
                               batch_size=args.batch_size, steps=args.steps,
                               channels_last="auto", compile=compile_)  # fmt: skip
    return bench_model(bench)


def published_for(device: str) -> list[dict[str, Any]]:
    """timm's figures for this GPU's class; all of them, marked so, where it has none."""
    figures = json.loads(REFERENCES.read_text())["figures"]
    same = [figure for figure in figures if figure["match"].lower() in device.lower()]
    return same or [{**figure, "other_gpu": True} for figure in figures]


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


def feeding_check(args: argparse.Namespace) -> dict[str, Any]:
    """2 epochs of `--train-arch` on synthetic photo shards; the GPU's busy fraction."""
    recipe = RECIPES["default"].with_overrides(
        {"epochs": 2, "batch_size": args.batch_size, "loader_workers": args.loader_workers}
    )
    spec = resolve_model(args.train_arch, args.resolution)
    with tempfile.TemporaryDirectory(prefix="ladder-gpu-check-") as folder:
        start = time.perf_counter()
        _, shards = synthetic_shards(Path(folder), args.photos, args.loader_workers)
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
        "arch": args.train_arch,
        "photos": args.photos,
        "loader_workers": args.loader_workers,
        "shards_made_s": round(made_s, 1),
        "fit_s": round(fit_s, 1),
        "busy_fraction": round(busy, 3),
        "goal": BUSY_GOAL,
        "met": busy >= BUSY_GOAL,
    }
