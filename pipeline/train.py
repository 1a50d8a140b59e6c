"""`ladder train`: one Lightning run of one architecture on a shard folder, tracked in MLflow.

The glue between the zoo, the data module and the classifier for a single run: it picks
the devices and precision, checkpoints every epoch, and logs every hyper-parameter with
the model's size and cost (params, MACs at the run's resolution) to MLflow.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, RichProgressBar
from pytorch_lightning.loggers import MLFlowLogger

from lightning_modules.architectures import build_model, list_models, model_info
from lightning_modules.classifier import OPTIMIZERS, ImageClassifier, default_precision
from lightning_modules.data import ShardDataModule, load_manifest
from pipeline.errors import UsageError
from pipeline.profile import count_macs
from pipeline.tracking import check_reachable, tracking_uri

RUN_FILE = "mlflow_run.json"  # beside the checkpoints: lets --resume continue the same MLflow run
RUN_DIR_ENV = "LADDER_TRAIN_RUN_DIR"
SCALING_KEYS = ("width", "depth")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, help="architecture (see `ladder profile --help`)")
    parser.add_argument("--data", required=True, type=Path, help="shard folder with manifest.json")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--resolution", type=int, help="input size (default: the model's own)")
    parser.add_argument("--width", type=float, help="width multiplier (scalable archs)")
    parser.add_argument("--depth", type=float, help="depth multiplier (scalable archs)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    parser.add_argument("--weight-decay", type=float, default=5e-5)
    parser.add_argument("--warmup-epochs", type=float, default=1.0)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--min-crop", type=float, default=0.08, help="RandomResizedCrop min area")
    parser.add_argument("--hflip", type=float, default=0.5, help="horizontal flip probability")
    parser.add_argument("--workers", type=int, default=2, help="dataloader processes per device")
    parser.add_argument("--devices", type=int, default=1, help="GPUs, or CPU processes (DDP)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="run folders go here")
    parser.add_argument("--experiment", default="train", help="MLflow experiment name")


def scaling_from(args: argparse.Namespace) -> dict[str, float]:
    """Only the multipliers the user gave, so fixed architectures reject them clearly."""
    return {key: getattr(args, key) for key in SCALING_KEYS if getattr(args, key) is not None}


def validate(args: argparse.Namespace) -> dict:
    """Check every input before anything heavy starts; returns the shard manifest."""
    if args.arch not in list_models():
        raise UsageError(f"--arch {args.arch!r} is unknown; valid: {', '.join(list_models())}")
    try:
        manifest = load_manifest(args.data)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--data {args.data}: {error}") from None
    info = model_info(args.arch)
    resolution = args.resolution or info.native_resolution
    if resolution < info.min_resolution:
        raise UsageError(
            f"--resolution {resolution} is below {args.arch}'s minimum of {info.min_resolution}"
        )
    if args.resume is not None and not args.resume.is_file():
        raise UsageError(f"--resume {args.resume}: no such checkpoint file")
    for flag in ("epochs", "batch_size", "devices"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} must be >= 1")
    return manifest


def model_size(model: dict[str, Any], manifest: dict[str, Any]) -> dict[str, int]:
    """`model/params` and `model/macs` of a run's model at its resolution (meta device:
    shapes only, no memory, nothing computed)."""
    scaling = {key: model[key] for key in SCALING_KEYS if key in model}
    in_chans = int(manifest.get("channels", 3))
    with torch.device("meta"):
        net = build_model(model["arch"], len(manifest["classes"]), in_chans, **scaling)
    return {
        "model/params": sum(parameter.numel() for parameter in net.parameters()),
        "model/macs": count_macs(net, model["resolution"], in_chans),
    }


def build_run(
    data_dir: str | Path, manifest: dict[str, Any], model: dict[str, Any], recipe: dict[str, Any]
) -> tuple[ImageClassifier, ShardDataModule]:
    """The classifier and the data module of one run: `ladder train`'s and each trial's.

    `model` holds `arch`, `resolution` and any `width`/`depth`; `recipe` the keys of
    `tune_spaces.RECIPE` (plus an optional `channels_last`). The shards decide the
    classes and the input channels (1 for the grayscale digits, 3 for ImageNet).
    """
    in_chans = int(manifest.get("channels", 3))
    classifier = ImageClassifier(
        model["arch"],
        num_classes=len(manifest["classes"]),
        in_chans=in_chans,
        scaling={key: model[key] for key in SCALING_KEYS if key in model},
        optimizer=recipe["optimizer"],
        lr=recipe["lr"],
        weight_decay=recipe["weight_decay"],
        label_smoothing=recipe["label_smoothing"],
        warmup_epochs=recipe["warmup_epochs"],
        channels_last=recipe.get("channels_last", False),
    )
    data = ShardDataModule(
        data_dir,
        resolution=model["resolution"],
        batch_size=recipe["batch_size"],
        num_workers=recipe["loader_workers"],
        in_chans=in_chans,
        min_crop=recipe["min_crop"],
        hflip=recipe["hflip"],
    )
    return classifier, data


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


def run(args: argparse.Namespace) -> int:
    try:
        return train(args)
    finally:  # the next run in this process (tests, notebooks) gets its own folder
        os.environ.pop(RUN_DIR_ENV, None)


def train(args: argparse.Namespace) -> int:
    manifest = validate(args)
    uri = tracking_uri()
    check_reachable(uri)
    pl.seed_everything(args.seed, workers=True)
    info = model_info(args.arch)
    resolution = args.resolution or info.native_resolution
    model = {"arch": args.arch, "resolution": resolution, **scaling_from(args)}
    try:
        size = model_size(model, manifest)
    except ValueError as error:
        raise UsageError(str(error)) from None
    recipe = {
        "optimizer": args.optimizer,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
        "warmup_epochs": args.warmup_epochs,
        "batch_size": args.batch_size,
        "loader_workers": args.workers,
        "min_crop": args.min_crop,
        "hflip": args.hflip,
        "channels_last": args.channels_last,
    }

    run_dir = run_folder(args)
    run_file = run_dir / RUN_FILE
    run_id = json.loads(run_file.read_text())["run_id"] if run_file.is_file() else None
    logger = MLFlowLogger(
        experiment_name=args.experiment,
        run_name=run_dir.name,
        tracking_uri=uri,
        run_id=run_id,
        tags={"arch": args.arch, "data": str(args.data.resolve())},
    )
    if run_id is None:  # a new run; DDP's other ranks find the file written here
        run_dir.mkdir(parents=True, exist_ok=True)
        run_file.write_text(json.dumps({"run_id": logger.run_id}))
        logger.log_hyperparams(
            {
                **model,
                **recipe,
                "data": str(args.data),
                "in_chans": int(manifest.get("channels", 3)),
                "epochs": args.epochs,
                "devices": args.devices,
                "seed": args.seed,
            }
        )
        logger.log_metrics(size, step=0)

    classifier, data = build_run(args.data, manifest, model, recipe)
    checkpoints = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="epoch{epoch:03d}",
        auto_insert_metric_name=False,
        monitor="val/acc1",
        mode="max",
        save_top_k=1,
        save_last=True,
    )
    trainer = pl.Trainer(
        max_epochs=args.epochs,
        accelerator="auto",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        precision=default_precision(),
        logger=logger,
        callbacks=[checkpoints, RichProgressBar()],
        default_root_dir=run_dir,
        log_every_n_steps=10,
    )
    trainer.fit(classifier, datamodule=data, ckpt_path=args.resume)
    if trainer.is_global_zero:
        best = checkpoints.best_model_score
        print(f"run {run_dir}  mlflow run {logger.run_id}  best val/acc1 {float(best):.4f}")
    return 0
