"""`ladder baseline`: a classic model (logistic regression, SVC) on raw pixels: the line to beat."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.training.baseline import DEFAULT_MAX_TRAIN, MODELS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="shard folder (manifest.json); required")
    parser.add_argument("--model", default="svc", help=f"one of {', '.join(MODELS)} (default svc)")
    parser.add_argument(
        "--max-train",
        type=str,
        default=str(DEFAULT_MAX_TRAIN),
        help=f"fit on a stratified subsample of this many train images (default "
        f"{DEFAULT_MAX_TRAIN:,}: an SVC's fit grows with its square)",
    )
    parser.add_argument(
        "--experiment", help="MLflow experiment (default: the latest sweep's, else 'baselines')"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the subsample and the model")


def run(args: argparse.Namespace) -> int:
    from pipeline.training import baseline

    return baseline.main(args)
