"""`ladder baseline`: a classic model (logistic regression, SVC) on raw pixels: the line to beat."""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.training.baseline import DEFAULT_MAX_TRAIN, MODELS, positive_int


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
    from pipeline.training.baseline import BaselineRequest, fit_baseline

    if args.data is None:
        raise InputError("--data: required, the shard folder to fit on (`ladder shards`)")
    request = BaselineRequest(args.data, args.model, positive_int(args.max_train),
                              args.experiment, args.seed)  # fmt: skip
    result = fit_baseline(request)
    print(
        f"baseline {args.model}: n_train {result.n_train} (raw pixels "
        f"{result.image_size}), val top-1 {100 * result.top1:.2f}%, "
        f"{result.seconds:.1f} s; logged to experiment {result.experiment!r}"
    )
    return 0
