"""`ladder sync [NAME]` / `ladder sync --run FOLDER`: send what a tracking journal holds.

A sweep (or a `ladder train` run) that ended while its tracking server was away says so
and names this command; it sends the rest in order (each write is idempotent). For a
sweep it then writes the leaderboard and the charts, and prints the leaderboard.
`ladder sweep --resume NAME` sends a sweep's journal as well.
"""

from __future__ import annotations

from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.sweep.plan import load_plan, storage_root
from pipeline.tracking.journal import Journal, Sender
from pipeline.tracking.schema import tracking_uri
from pipeline.tracking.sweep_journal import SweepSending, print_board
from pipeline.tracking.train_journal import TrainSending


def send(what: str, journal: Journal, sender: Sender) -> bool:
    """Send what waits; one line either way. True if everything was sent."""
    waiting = journal.waiting
    if not waiting:
        print(f"ladder sync: {what}: nothing waits in {journal.path}")
        return True
    if not sender.send_pending():
        print(f"ladder sync: {what}: {journal.waiting} records still wait; try again later")
        return False
    print(f"ladder sync: {what}: sent {waiting} records")
    return True


def sync_run(run_dir: Path) -> int:
    """Send a `ladder train` run's journal; the exit code: 1 while records still wait."""
    if not (run_dir / "tracking").is_dir():
        raise InputError(f"--run {run_dir}: no tracking journal in that folder")
    tracking = TrainSending(run_dir, tracking_uri())
    return 0 if send(f"run {run_dir}", tracking.journal, tracking.start()) else 1


def sync_sweep(name: str, storage: str) -> int:
    """Send a sweep's journal, then print its leaderboard; the exit code: 1 while records
    still wait or a trial did not finish."""
    try:
        plan = load_plan(storage_root(storage), name)
    except InputError as error:
        raise InputError(str(error).replace("--resume", "sweep")) from None
    tracking = SweepSending(plan)
    if not send(f"sweep {plan.name}", tracking.journal, tracking.sender):
        return 1
    return print_board(plan, tracking.replay.rows) if tracking.replay.rows is not None else 0
