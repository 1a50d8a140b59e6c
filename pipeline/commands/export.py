"""`ladder export`: a trial's model as timm's config.json + safetensors; registered in MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.sweep import DEFAULT_STORAGE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "trial", nargs="?", help="the trial: its name, Ray trial id or MLflow run id"
    )
    parser.add_argument("--best", action="store_true", help="the sweep's best finished trial")
    parser.add_argument("--sweep", help="the sweep's MLflow experiment (default: the latest)")
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help="the sweep's --storage, a path or URI"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the two files")
    parser.add_argument(
        "--register", metavar="NAME", help="also register it in MLflow as a version of NAME"
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.models.export import export

    if bool(args.trial) == args.best:
        raise InputError("name one TRIAL or give --best (see `ladder leaderboard`)")
    if args.register is not None and not args.register.strip():
        raise InputError("--register: expected a model name")
    export(args.sweep, args.trial, args.storage, args.out, args.register)
    return 0
