"""`ladder bench sync`: `ladder sync` of a sweep's tracking journal of N records.

A sweep that outlived its tracking server leaves what it could not send in its journal
(pipeline/tracking/journal.py), and `ladder sync` sends it, one record after another, then
writes the leaderboard and the charts. The journal here is the one the Tune callback would
have written for generated trials (`pipeline.bench.tracking_load`): `sweep_started`, each
trial's `trial_started`, an `epoch` a reported epoch and `trial_ended`, then
`sweep_finished`; N records hold about N / 5 trials. Each size is a saved sweep plan and
its journal, sent by `ladder sync` in a fresh process into an empty sqlite store or, with
`--tracking-uri`, into a new experiment on that server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.bench.curves import curves
from pipeline.bench.tracking_load import EPOCH_MS, START_MS, epoch_results, load_trials

if TYPE_CHECKING:
    from pipeline.sweep.plan import SweepPlan

SPACE = "ladder"  # its charts are the three every sweep gets


def bench_sync(sizes: list[int], tracking_uri: str | None = None) -> dict:
    """`ladder sync`'s time for a journal of each size in `sizes` (records), into a new
    sqlite store each, or into the server at `tracking_uri`."""
    seconds, trials = {}, {}
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        for count in sizes:
            print(f"ladder bench sync: {count} records ...", file=sys.stderr, flush=True)
            name = f"sync-{count}-{time.strftime('%Y%m%d-%H%M%S')}"  # new on a server too
            uri = tracking_uri or f"sqlite:///{scratch}/{name}.db"
            storage = Path(scratch) / "sweeps"
            plan = saved_plan(name, storage, uri)
            trials[count] = write_journal(plan, count)
            start = time.perf_counter()
            argv = [sys.executable, "-m", "pipeline", "sync", name, "--storage", str(storage)]
            env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
            done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL)
            seconds[count] = round(time.perf_counter() - start, 1)
            check_sent(plan, done.returncode)
    return {
        "benchmark": "sync",
        "x": "journal records",
        "store": "server " + tracking_uri if tracking_uri else "sqlite",
        "trials": trials,
        "curves": curves({"ladder sync": seconds}),
    }


def check_sent(plan: SweepPlan, exit_code: int) -> None:
    """Every record was sent. (`ladder sync` exits 1 also when all was sent but some trials
    did not finish, as the generated sweep's errors and running trials do not.)"""
    from pipeline.tracking.journal import Journal
    from pipeline.tracking.sweep_tracker import journal_folder

    waiting = Journal(journal_folder(plan)).waiting
    if waiting or exit_code not in (0, 1):
        raise RuntimeError(f"ladder sync {plan.name}: exit {exit_code}, {waiting} records unsent")


def saved_plan(name: str, storage: Path, uri: str) -> SweepPlan:
    """A one-epoch-grid sweep's plan, saved where `ladder sync NAME --storage` finds it."""
    from pipeline.bench.tracking_load import EPOCHS
    from pipeline.sweep.plan import SweepPlan, TrialResources

    plan = SweepPlan(
        name=name, space=SPACE, overrides={}, experiment=name, storage=str(storage.resolve()),
        resources=TrialResources(), scheduler="fifo", max_concurrent=0,
        param_space={"model": {}, "recipe": {"epochs": EPOCHS}, "data": "/data/imagenet"},
        tracking_uri=uri,
    )  # fmt: skip
    plan.save()
    return plan


def write_journal(plan: SweepPlan, records: int) -> int:
    """The plan's journal of at most `records` records (whole trials); returns the trials."""
    from pipeline.tracking.journal import Journal
    from pipeline.tracking.sweep_tracker import journal_folder

    journal = Journal(journal_folder(plan))
    journal.append("sweep_started")
    written, count = 2, 0  # sweep_started, sweep_finished
    for index, trial in enumerate(load_trials(records)):
        results = epoch_results(trial)
        ended = trial.status != "running"
        if written + 1 + len(results) + ended > records:
            break
        journal.append("trial_started", trial_id=trial.trial_id, name=trial.name,
                       config=trial.config)  # fmt: skip
        for epoch, metrics in enumerate(results, start=1):
            journal.append("epoch", trial_id=trial.trial_id, epoch=epoch, metrics=metrics,
                           timestamp=START_MS + index + epoch * EPOCH_MS)  # fmt: skip
        if ended:
            journal.append("trial_ended", trial_id=trial.trial_id, status=trial.status)
        written, count = written + 1 + len(results) + ended, count + 1
    journal.append("sweep_finished")
    return count
