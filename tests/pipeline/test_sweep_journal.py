"""A sweep's journal sent into a real sqlite store the way `ladder sync` sends a backlog:
a few store requests a trial however many records it holds, sent again without a
duplicate, and a record the store refuses skipped with one line while the rest arrive."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from pipeline.tracking.journal import Journal
from pipeline.tracking.sweep_journal import SweepSending
from tests.pipeline.conftest import TRIALS, CountingClient
from tests.pipeline.journals import EPOCHS, assert_complete, plan_for, sending, write_trial
from tests.pipeline.sweeps import history, trial_runs


def write_backlog(journal: Journal) -> None:
    """What a sweep of `TRIALS` journals while its tracking server is away."""
    journal.append("sweep_started")
    for trial in TRIALS:
        write_trial(journal, trial, range(1, EPOCHS + 1))


def counted(tracking: SweepSending) -> CountingClient:
    """Count the store requests the sweep's tracker makes from now on."""
    tracker = tracking.replay.tracker
    tracker.client = CountingClient(tracker.client)
    return tracker.client


def test_a_backlog_costs_three_requests_a_trial_not_one_a_record(store, tmp_path: Path):
    plan = plan_for("backlog", store, tmp_path / "sweeps")
    tracking, lines = sending(plan)
    write_backlog(tracking.journal)
    requests = counted(tracking)
    assert tracking.send_now(), lines.getvalue()
    assert tracking.journal.waiting == 0
    assert_complete(store, plan.name)
    # each trial: create its run, one log_batch (params, epochs, status), close it
    trials = len(TRIALS)
    assert requests.calls["create_run"] == 1 + trials  # and the parent's
    assert requests.calls["log_batch"] == 1 + trials
    assert requests.calls["set_terminated"] == trials
    assert requests.calls["search_runs"] == 1  # the parent's; a new parent has no trials
    assert sum(requests.calls.values()) <= 3 * trials + 5, requests.calls
    for trial in TRIALS:
        params = trial_runs(store, plan.name)[trial.trial_id].data.params
        assert params["arch"] == trial.model["arch"] and params["lr"] == str(trial.recipe["lr"])


def test_a_backlog_sent_twice_is_logged_once_reading_the_trials_in_one_search(
    store, tmp_path: Path
):
    plan = plan_for("twice", store, tmp_path / "sweeps")
    first, _ = sending(plan)
    write_backlog(first.journal)
    assert first.send_now()
    first.sender.stop()
    first.journal.mark_sent(0)  # as if killed before it could mark the records sent
    again, lines = sending(plan)  # a new process: it knows nothing of the store
    requests = counted(again)
    assert again.send_now(), lines.getvalue()
    assert_complete(store, plan.name)  # no second run, no step twice
    assert requests.calls["search_runs"] == 2  # the parent, then all its trials at once
    assert "create_run" not in requests.calls


def test_a_record_the_store_refuses_is_skipped_and_the_rest_arrive(store, tmp_path: Path):
    plan = plan_for("refused", store, tmp_path / "sweeps")
    tracking, lines = sending(plan)
    write_backlog(tracking.journal)
    bad = {**TRIALS[0].config, "note?": "x"}  # MLflow refuses a '?' in a param's name
    tracking.journal.append("trial_started", trial_id="t_bad", name="bad", config=bad)
    tracking.journal.append("trial_ended", trial_id="t_bad", status="error")
    assert tracking.send_now()
    assert tracking.journal.waiting == 0
    refused = [line for line in lines.getvalue().splitlines() if "refused" in line]
    index = len(tracking.journal.records) - 1  # the bad trial's start, counted from 1
    assert len(refused) == 1 and f"record {index} (trial_started) refused" in refused[0]
    runs = trial_runs(store, plan.name)
    for trial in TRIALS:
        assert [m.value for m in history(store, runs[trial.trial_id])] == trial.acc1
        assert runs[trial.trial_id].data.tags["ladder.status"] == "finished"
    client = MlflowClient(store)
    assert client.get_run(runs["t_bad"].info.run_id).data.tags["ladder.status"] == "error"
