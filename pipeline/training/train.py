"""`ladder train`: one Lightning run of one architecture on a shard folder, tracked in MLflow.

The glue between the zoo, the data module and the classifier for a single run: it picks
the devices and precision, checkpoints every epoch, and logs every hyper-parameter with
the model's size and cost (params, MACs at the run's resolution) to MLflow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar

from lightning_modules.cost import MeasureCost
from lightning_modules.divergence import Divergence
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest, upsampling_warning
from lightning_modules.metric_names import VAL_ACC1
from lightning_modules.recipes import named_recipe
from lightning_modules.run import build_run, in_chans_of, model_size, trainer_settings
from lightning_modules.specs import ModelSpec, Recipe, resolve_model
from pipeline.tracking.schema import check_reachable, tracking_uri
from pipeline.tracking.train_journal import JournalLogger, TrainSending

RUN_DIR_ENV = "LADDER_TRAIN_RUN_DIR"
DIVERGED = 3  # the exit status of a run that diverged (2 is bad input)


def recipe_from(args: argparse.Namespace) -> Recipe:
    """The `--recipe` with the recipe flags that were given applied."""
    given = {knob.name: getattr(args, knob.name) for knob in fields(Recipe)}
    overrides = {key: value for key, value in given.items() if value is not None}
    try:
        return named_recipe(args.recipe).with_overrides(overrides)
    except InputError as error:
        raise InputError(f"--{str(error).removeprefix('setting ').replace('_', '-')}") from None


def validate(args: argparse.Namespace) -> tuple[dict[str, Any], ModelSpec, Recipe]:
    """Check every input before anything heavy starts: (manifest, model, recipe)."""
    if args.devices < 1:
        raise InputError("--devices must be >= 1")
    if args.resume is not None and not args.resume.is_file():
        raise InputError(f"--resume {args.resume}: no such checkpoint file")
    spec = resolve_model(args.arch, args.resolution, args.stem, width=args.width, depth=args.depth)
    recipe = recipe_from(args)
    try:
        manifest = load_manifest(args.data)
    except InputError as error:
        raise InputError(f"--data {args.data}: {error}") from None
    if warning := upsampling_warning(manifest, spec.resolution):
        print(f"ladder train: {warning}", file=sys.stderr)
    return manifest, spec, recipe


def run_folder(args: argparse.Namespace) -> Path:
    """The run's folder: the checkpoint's on --resume, else a new one named after the arch.

    With `--devices N` on CPU, Lightning re-launches this command for ranks 1..N-1 during
    `fit`; they inherit the folder through the environment, so every rank uses one run.
    """
    if args.resume:
        return args.resume.parent.parent
    if RUN_DIR_ENV not in os.environ:
        os.environ[RUN_DIR_ENV] = str(args.out / f"{args.arch}-{time.strftime('%Y%m%d-%H%M%S')}")
    return Path(os.environ[RUN_DIR_ENV])


def main(args: argparse.Namespace) -> int:
    try:
        return train(args)
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


def train(args: argparse.Namespace) -> int:
    manifest, spec, recipe = validate(args)
    pl.seed_everything(recipe.seed, workers=True)  # before the weights are drawn
    # the data module checks the shards against the manifest: before anything is written
    classifier, data = build_run(args.data, manifest, spec, recipe, args.allow_damaged_shards)
    uri = tracking_uri()
    check_reachable(uri)
    run_dir = run_folder(args)
    run_dir.mkdir(parents=True, exist_ok=True)
    tracking = TrainSending(run_dir, uri)
    tags = {"arch": args.arch, "data": str(args.data.resolve())}
    logger = JournalLogger(tracking, args.experiment, tags)  # journals on rank 0 only
    run_params = {"data": str(args.data), "in_chans": in_chans_of(manifest)}
    logger.log_hyperparams({**spec.to_dict(), **recipe.to_dict(), **run_params,
                            "devices": args.devices})  # fmt: skip
    logger.log_metrics(model_size(spec, manifest), step=0)

    checkpoints = best_and_last(run_dir / "checkpoints")
    divergence = Divergence(len(manifest["classes"]))
    trainer = pl.Trainer(
        **trainer_settings(recipe),
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
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
    trainer.fit(classifier, datamodule=data, ckpt_path=args.resume)
    if trainer.is_global_zero:
        tracking.finish()  # an outage: one line naming `ladder sync --run`
        best = float(checkpoints.best_model_score)
        mlflow_run = tracking.replay.run_id or "(not sent yet)"
        print(f"run {run_dir}  mlflow run {mlflow_run}  best val/acc1 {best:.4f}")
    if divergence.diverged:
        print(f"ladder train: {divergence.line()}", file=sys.stderr)
        return DIVERGED
    return 0
