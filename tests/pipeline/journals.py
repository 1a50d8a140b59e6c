"""A sweep's tracking journal, written as the Tune callback writes it (without Ray), and
what MLflow must hold once it is sent: shared by test_journal.py (a real server, outages)
and test_sweep_journal.py (a sqlite store, what a backlog costs)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from mlflow import MlflowClient

from pipeline.sweep.plan import SweepPlan, TrialResources
from pipeline.tracking.journal import Journal
from pipeline.tracking.schema import tag_filter
from pipeline.tracking.sweep_journal import SweepSending
from tests.pipeline.conftest import TRIALS, PlannedTrial
from tests.pipeline.sweeps import assert_each_step_once, history, trial_runs

EPOCHS = 2


def plan_for(name: str, uri: str, storage: Path) -> SweepPlan:
    return SweepPlan(
        name=name,
        space="demo",
        overrides={"epochs": EPOCHS},
        experiment=name,
        storage=str(storage),
        resources=TrialResources(),
        scheduler="fifo",
        max_concurrent=0,
        param_space={"data": "/shards", "recipe": {"epochs": EPOCHS}, "model": {}},
        tracking_uri=uri,
    )


def sending(plan: SweepPlan) -> tuple[SweepSending, io.StringIO]:
    """The sweep's sender, its lines captured."""
    tracking = SweepSending(plan)
    tracking.sender.out = io.StringIO()
    return tracking, tracking.sender.out


def write_trial(journal: Journal, trial: PlannedTrial, epochs: range) -> None:
    """What the Tune callback journals for `epochs` of a trial (started at the first)."""
    if epochs.start == 1:
        journal.append("trial_started", trial_id=trial.trial_id, name=trial.name,
                       config=trial.config)  # fmt: skip
    for epoch in epochs:
        metrics = {"val/acc1": trial.acc1[epoch - 1], "val/acc5": trial.acc5[epoch - 1],
                   "train/loss": 1.0 / epoch, "model/params": trial.params}  # fmt: skip
        journal.append("epoch", trial_id=trial.trial_id, epoch=epoch, metrics=metrics,
                       timestamp=int(time.time() * 1000))  # fmt: skip
    if epochs.stop == EPOCHS + 1:
        journal.append("trial_ended", trial_id=trial.trial_id, status="finished")


def assert_complete(uri: str, name: str, trials: list[PlannedTrial] = TRIALS) -> None:
    """One parent run, one child run per trial, every epoch of each exactly once."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(name)
    parents = client.search_runs([experiment.experiment_id], tag_filter(**{"ladder.role": "sweep"}))
    assert len(parents) == 1, "a second parent run"
    runs = trial_runs(uri, name)  # fails on two runs for one trial
    assert sorted(runs) == sorted(trial.trial_id for trial in trials)
    for trial in trials:
        run = runs[trial.trial_id]
        assert [m.step for m in history(uri, run)] == list(range(1, EPOCHS + 1))
        assert [m.value for m in history(uri, run)] == trial.acc1
        assert run.data.tags["ladder.status"] == "finished"
        assert_each_step_once(uri, run)
