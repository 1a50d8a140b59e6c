"""`ladder leaderboard`: rank the trials of a sweep."""

from __future__ import annotations

import argparse
import sys

from pipeline.report.leaderboard import FORMATS, PARETO_BY


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", help="MLflow experiment (default: the latest sweep's)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument(
        "--pareto-by", choices=PARETO_BY, default="macs", help="the cost of the Pareto front"
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.api import leaderboard

    sys.stdout.write(leaderboard(args.experiment, args.pareto_by).text(args.format))
    return 0
