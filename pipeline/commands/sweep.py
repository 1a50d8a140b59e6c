"""`ladder sweep`: run (or resume) a Ray Tune sweep over a search space."""

from __future__ import annotations

import argparse
from pathlib import Path

import tune_spaces
from pipeline.sweep import DEFAULT_STORAGE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", help=f"search space: {', '.join(tune_spaces.SPACES)}")
    parser.add_argument(
        "--data", type=Path, help="shard folder (ladder shards), on every node (demo: data/digits)"
    )
    parser.add_argument("--name", help="sweep name (default: SPACE-YYYYmmdd-HHMMSS)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the sweep name)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (the space's default)")
    parser.add_argument(
        "--recipe", help="train with this named recipe (`ladder recipes`; default: the space's)"
    )
    parser.add_argument(
        "--seeds",
        metavar="K",
        help="train every model K times, recipe seeds 0..K-1 (from --set seed=S: S..S+K-1); "
        "the leaderboard gives mean ± std over them (default: 1)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    parser.add_argument(
        "--from-sweep", metavar="NAME", help="efficientnet_family: use NAME's best point"
    )
    add_running_flags(parser)


def add_running_flags(parser: argparse.ArgumentParser) -> None:
    """How the sweep runs (resources, scheduler, storage, output), apart from what it trains."""
    parser.add_argument("--gpus-per-trial", type=float, default=0.0)
    parser.add_argument(
        "--workers-per-trial", type=int, help="DDP workers per trial (default: 1, or one per GPU)"
    )
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument(
        "--max-concurrent", type=int, default=0, help="trials at once (default: what fits)"
    )
    parser.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo")
    parser.add_argument("--max-failures", type=int, default=2, help="restarts per trial")
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help="results and checkpoints: a path or URI"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="Ray's, Tune's and Lightning's own output too"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimate, run nothing"
    )
    parser.add_argument(
        "--budget-hours", type=float, metavar="H", help="refuse a plan estimated above H node-hours"
    )
    parser.add_argument("--register-best", metavar="NAME", help="MLflow: the best as NAME@champion")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="NAME",
        help="continue a sweep (default: the latest one in --storage)",
    )


def run(args: argparse.Namespace) -> int:
    from pipeline.sweep import launch

    return launch.main(args)
