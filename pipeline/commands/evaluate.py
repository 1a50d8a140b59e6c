"""`ladder evaluate`: score an exported or registered model on a shard split."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="an export folder (ladder export), or models:/NAME@ALIAS")
    parser.add_argument("--data", type=Path, required=True, help="shard folder (ladder shards)")
    parser.add_argument("--split", default="val", help="the held-out split to score")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="loader processes")
    parser.add_argument(
        "--out", type=Path, default=Path("evaluation"), help="folder for the confusion matrix"
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.models.evaluate import evaluate_model

    evaluate_model(args.model, args.data, args.split, args.batch_size, args.workers, args.out)
    return 0
