"""`ladder sync`: send what a sweep's tracking journal still holds to MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.sweep import DEFAULT_STORAGE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default="latest", help="the sweep (default: latest)")
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="the sweep's --storage")
    parser.add_argument(
        "--run", dest="run_dir", type=Path, metavar="FOLDER", help="a `ladder train` run folder"
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.tracking import sync

    if args.run_dir is not None:
        return sync.sync_run(args.run_dir)
    return sync.sync_sweep(args.name, args.storage)
