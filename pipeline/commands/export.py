"""`ladder export`: a trial's model as timm's config.json + safetensors; registered in MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    from pipeline.models import export

    return export.main(args)
