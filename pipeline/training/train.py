"""`ladder train`: one Lightning run of one architecture on a shard folder, tracked in MLflow.

The glue between the zoo, the data module and the classifier for a single run: it picks
the devices and precision, checkpoints every epoch, and logs every hyper-parameter with
the model's size and cost (params, MACs at the run's resolution) to MLflow.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from lightning_modules.cost import MeasureCost
from lightning_modules.divergence import Divergence
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest, upsampling_warning
from lightning_modules.metric_names import VAL_ACC1
from lightning_modules.run import build_run, in_chans_of, model_size, trainer_settings
from lightning_modules.specs import ModelSpec, Recipe
from pipeline.tracking.schema import check_reachable, tracking_uri
from pipeline.tracking.train_journal import JournalLogger, TrainSending

RUN_DIR_ENV = "LADDER_TRAIN_RUN_DIR"
DIVERGED = 3  # the exit status of a run that diverged (2 is bad input)


@dataclass(frozen=True)
class TrainRequest:
    """One training run: what `ladder train`'s flags say, or what a notebook passes.

    `model` from `resolve_model` (checked), `recipe` a `Recipe` (`named_recipe(...)` with
    overrides); `devices` > 1 is DDP, GPUs or CPU processes; `resume` a checkpoint of an
    earlier run (`runs/<run>/checkpoints/last.ckpt`), whose folder the run continues in.
    """

    data: Path
    model: ModelSpec
    recipe: Recipe = Recipe()
    experiment: str = "train"
    out: Path = Path("runs")
    devices: int = 1
    resume: Path | None = None
    allow_damaged_shards: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What a run left: its folder (checkpoints, journal) and MLflow run, its best top-1,
    and the line saying how it diverged, if it did. Ranks other than 0 get no folder."""

    run_dir: Path | None
    mlflow_run_id: str | None
    best_top1: float | None
    diverged: str | None = None


def validate(request: TrainRequest) -> dict[str, Any]:
    """Check the inputs the request's types do not, before anything heavy starts; the
    shards' manifest."""
    if request.devices < 1:
        raise InputError("--devices must be >= 1")
    if request.resume is not None and not Path(request.resume).is_file():
        raise InputError(f"--resume {request.resume}: no such checkpoint file")
    try:
        manifest = load_manifest(request.data)
    except InputError as error:
        raise InputError(f"--data {request.data}: {error}") from None
    if warning := upsampling_warning(manifest, request.model.resolution):
        print(f"ladder train: {warning}", file=sys.stderr)
    return manifest


def run_folder(request: TrainRequest) -> Path:
    """The run's folder: the checkpoint's on resume, else a new one named after the model.

    With `devices` > 1 on CPU, Lightning re-launches this command for ranks 1..N-1 during
    `fit`; they inherit the folder through the environment, so every rank uses one run.
    """
    if request.resume:
        return Path(request.resume).parent.parent
    if RUN_DIR_ENV not in os.environ:
        name = request.model.arch.replace(":", "-")
        os.environ[RUN_DIR_ENV] = str(
            Path(request.out) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
    return Path(os.environ[RUN_DIR_ENV])


def train(request: TrainRequest) -> TrainResult:
    """Train one model on one shard folder, tracked in MLflow (the Python API of
    `ladder train`)."""
    try:
        return _train(request)
    finally:  # the next run in this process (tests, notebooks) gets its own folder
        os.environ.pop(RUN_DIR_ENV, None)


def best_and_last(folder: Path) -> ModelCheckpoint:
    """The run's checkpoints: its best epoch by val/acc1, and its last (for --resume)."""
    return ModelCheckpoint(
        dirpath=folder,
        filename="epoch{epoch:03d}",
        auto_insert_metric_name=False,
        monitor=VAL_ACC1,
        mode="max",
        save_top_k=1,
        save_last=True,
    )


def _train(request: TrainRequest) -> TrainResult:
    manifest = validate(request)
    spec, recipe, data_dir = request.model, request.recipe, Path(request.data)
    pl.seed_everything(recipe.seed, workers=True)  # before the weights are drawn
    # the data module checks the shards against the manifest: before anything is written
    classifier, data = build_run(data_dir, manifest, spec, recipe, request.allow_damaged_shards)
    uri = tracking_uri()
    check_reachable(uri)
    run_dir = run_folder(request)
    run_dir.mkdir(parents=True, exist_ok=True)
    tracking = TrainSending(run_dir, uri)
    tags = {"arch": spec.arch, "data": str(data_dir.resolve())}
    logger = JournalLogger(tracking, request.experiment, tags)  # journals on rank 0 only
    run_params = {"data": str(data_dir), "in_chans": in_chans_of(manifest)}
    logger.log_hyperparams({**spec.to_dict(), **recipe.to_dict(), **run_params,
                            "devices": request.devices})  # fmt: skip
    logger.log_metrics(model_size(spec, manifest), step=0)

    checkpoints = best_and_last(run_dir / "checkpoints")
    divergence = Divergence(len(manifest["classes"]))
    trainer = pl.Trainer(
        **trainer_settings(recipe),
        devices=request.devices,
        strategy="ddp" if request.devices > 1 else "auto",
        logger=logger,
        callbacks=[
            MeasureCost(spec.resolution, in_chans_of(manifest)),
            checkpoints,
            RichProgressBar(),
            *filter(None, [data.samples_seen()]),
            divergence,
        ],
        default_root_dir=run_dir,
        log_every_n_steps=10,
    )
    trainer.fit(classifier, datamodule=data, ckpt_path=request.resume)
    diverged = divergence.line() if divergence.diverged else None
    if not trainer.is_global_zero:
        return TrainResult(None, None, None, diverged)
    tracking.finish()  # an outage: one line naming `ladder sync --run`
    best = float(checkpoints.best_model_score)
    return TrainResult(run_dir, tracking.replay.run_id, best, diverged)
