"""`ladder train`: train one architecture on a shard folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lightning_modules.shard_check import OPT_OUT
from pipeline.cli_flags import add_model_flags, add_recipe_flags, model_from, recipe_from


def configure(parser: argparse.ArgumentParser) -> None:
    add_model_flags(parser)
    parser.add_argument("--data", required=True, type=Path, help="shard folder with manifest.json")
    add_recipe_flags(parser)
    parser.add_argument("--devices", type=int, default=1, help="GPUs, or CPU processes (DDP)")
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="run folders go here")
    parser.add_argument("--experiment", default="train", help="MLflow experiment name")
    parser.add_argument(
        OPT_OUT,
        action="store_true",
        help="train even when shard files are missing or differ in size from the manifest, "
        "and say after each epoch how many samples it saw",
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.training.train import DIVERGED, TrainRequest, train

    request = TrainRequest(
        data=args.data, model=model_from(args), recipe=recipe_from(args),
        experiment=args.experiment, out=args.out, devices=args.devices, resume=args.resume,
        allow_damaged_shards=args.allow_damaged_shards,
    )  # fmt: skip
    result = train(request)
    if result.run_dir is not None:  # rank 0
        run_id = result.mlflow_run_id or "(not sent yet)"
        print(f"run {result.run_dir}  mlflow run {run_id}  best val/acc1 {result.best_top1:.4f}")
    if result.diverged:
        print(f"ladder train: {result.diverged}", file=sys.stderr)
        return DIVERGED
    return 0
