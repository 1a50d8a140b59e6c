"""`ladder chart`: the ImageNet challenge chart, accuracy vs MACs and speed, scaling figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.report.charts import CHART_NAMES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", help="MLflow experiment (default: the latest sweep's)")
    parser.add_argument("--out", type=Path, default=Path("charts"), help="folder for the files")
    parser.add_argument(
        "--figure",
        action="append",
        choices=CHART_NAMES,
        help="draw this chart only (repeatable); default: the charts that fit the sweep",
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.report.charts import draw_charts

    for path in draw_charts(args.out, args.experiment, args.figure or ()):
        print(path)
    return 0
