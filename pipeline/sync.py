"""`ladder sync NAME`: send what a sweep's tracking journal still holds to MLflow.

A sweep that ended while its tracking server was away says so and names this command;
it sends the rest in order (each write is idempotent), then the sweep's leaderboard and
charts, and prints the leaderboard. `ladder sweep --resume NAME` sends it as well.
"""

from __future__ import annotations

import argparse

from pipeline.plan import load_plan, storage_root
from pipeline.sweep import DEFAULT_STORAGE
from pipeline.sweep_journal import SweepSending, print_board


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default="latest", help="the sweep (default: latest)")
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="the sweep's --storage")


def run(args: argparse.Namespace) -> int:
    plan = load_plan(storage_root(args.storage), args.name)
    tracking = SweepSending(plan)
    waiting = tracking.journal.waiting
    if not waiting:
        print(f"ladder sync: sweep {plan.name}: nothing waits in {tracking.journal.path}")
        return 0
    if not tracking.send_now():
        print(f"ladder sync: {tracking.journal.waiting} records still wait; try again later")
        return 1
    print(f"ladder sync: sweep {plan.name}: sent {waiting} records")
    return print_board(plan, tracking.replay.rows) if tracking.replay.rows is not None else 0
