"""A sweep's tracking journal, sent to MLflow: what `ladder sweep` and `ladder sync` run.

The Tune callback (`pipeline.tracking.sweep_tracker.TrackingCallback`) appends each trial's start,
epochs and end; the driver adds `sweep_started` and `sweep_finished`. `SweepReplay` sends
them through the sweep's `SweepTracker`, whose writes are idempotent, so a record sent
twice (after a kill, or a reply lost in an outage) changes nothing. `sweep_finished` writes
the leaderboard and the charts as artifacts of the parent run from what MLflow holds
then, and closes it: a sweep that ended during an outage gets them from `ladder sync`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline.sweep.plan import SweepPlan
from pipeline.tracking.journal import Journal, Sender, shared_journal
from pipeline.tracking.sweep_tracker import journal_folder, tracker_for

DRAIN_GRACE_S = 20.0  # how long a finished sweep waits for a server that is away


class SweepReplay:
    """Applies the records of a sweep's journal to MLflow."""

    def __init__(self, plan: SweepPlan) -> None:
        self.plan = plan
        self.tracker = tracker_for(plan)
        self.rows: list[Any] | None = None  # the leaderboard, once `sweep_finished` is sent

    def apply(self, records: list[dict[str, Any]]) -> None:
        """Apply a window of records, each run's params, metrics and tags held for one
        `log_batch` (`SweepTracker.batched`)."""
        with self.tracker.batched():
            for record in records:
                args = {key: value for key, value in record.items() if key != "op"}
                getattr(self, f"_{record['op']}")(**args)

    def _sweep_started(self) -> None:
        self.tracker.parent_run_id = None  # found again: a resumed sweep's run runs again
        self.tracker.start()

    def _trial_started(self, trial_id: str, name: str, config: dict[str, Any]) -> None:
        self.tracker.trial_started(trial_id, name, config)

    def _epoch(self, trial_id: str, epoch: int, metrics: dict[str, float], timestamp: int) -> None:
        self.tracker.epoch_result(trial_id, epoch, metrics, timestamp)

    def _trial_ended(self, trial_id: str, status: str) -> None:
        self.tracker.trial_ended(trial_id, status)

    def _trials_known(self, trial_ids: list[str]) -> None:
        self.tracker.trials_known(set(trial_ids))

    def _sweep_finished(self) -> None:
        """Leaderboard and charts as artifacts of the parent run, which is closed."""
        from pipeline.report.charts import charts_for, write_charts
        from pipeline.report.leaderboard import leaderboard_rows, write_leaderboard

        tracker = self.tracker
        tracker.flush()  # the leaderboard reads what the store holds
        rows = leaderboard_rows(tracker.client, self.plan.experiment)
        write_leaderboard(tracker.client, tracker.start(), rows)
        with tempfile.TemporaryDirectory() as charts:
            for path in write_charts(rows, Path(charts), charts_for(self.plan.space)):
                tracker.log_artifact(path, "charts")
        tracker.end()
        self.rows = rows


class SweepSending:
    """A sweep's journal and the sender that delivers it, for one driver or `ladder sync`."""

    def __init__(self, plan: SweepPlan) -> None:
        self.plan = plan
        self.journal: Journal = shared_journal(journal_folder(plan))
        self.replay = SweepReplay(plan)
        self.sender = Sender(self.journal, self.replay.apply, self.replay.tracker.forget)

    def begin(self) -> None:
        """Journal the sweep's (re)start and send in the background from now on."""
        self.journal.append("sweep_started")
        self.sender.start()

    def send_now(self) -> bool:
        """One pass over what waits, in this thread (`ladder sync`); True if all was sent."""
        return self.sender.send_pending()

    def finish(self, grace_s: float = DRAIN_GRACE_S) -> bool:
        """After the sweep: journal its end, wait for the sender; True if all was sent."""
        self.journal.append("sweep_finished")
        return self.sender.close(grace_s, f"ladder sync {self.plan.name}")


def print_board(plan: SweepPlan, rows: list[Any] | None) -> int:
    """The leaderboard; 1 when a trial did not finish, with the command that continues."""
    from pipeline.report.leaderboard import format_rows, is_done

    rows = rows or []
    print(format_rows(rows, "table"))
    unfinished = [row for row in rows if not is_done(row)]
    if unfinished:
        print(
            f"{len(unfinished)} trial(s) did not finish: `ladder sweep --resume {plan.name}`",
            file=sys.stderr,
        )
        return 1
    return 0
