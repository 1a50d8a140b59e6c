"""SweepTracker on a real sqlite store: the schema, and idempotence under Ray's retries and
a resumed sweep (a new tracker over the same store must continue the same runs)."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.tracking import schema
from pipeline.tracking.schema import search_all_runs, tag_filter
from pipeline.tracking.sweep_tracker import SweepTracker, flatten_config
from tests.pipeline.conftest import log_sweep

CONFIG = {
    "recipe": {"epochs": 3, "lr": 0.05},
    "data": "/shards",
    "model": {"arch": "efficientnet", "resolution": 37, "width": 1.1, "depth": 1.2,
              "alpha": 1.2, "beta": 1.1, "gamma": 1.15, "phi": 1},
}  # fmt: skip


def tracker(uri: str, sweep: str = "sw") -> SweepTracker:
    return SweepTracker(uri, None, sweep, "compound_scaling", {"epochs": 3, "phis": (0, 1)})


def children(client: MlflowClient, tracker: SweepTracker) -> list:
    return client.search_runs(
        [tracker.experiment_id],
        filter_string=tag_filter(**{"mlflow.parentRunId": tracker.parent_run_id}),
    )


def steps(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_parent_and_child_follow_the_schema(store):
    sweep = tracker(store)
    parent_id = sweep.start()
    run_id = sweep.trial_started("ab_00001", "efficientnet_phi1", CONFIG)
    client = MlflowClient(store)
    parent, child = client.get_run(parent_id), client.get_run(run_id)

    assert client.get_experiment(sweep.experiment_id).name == "sw"
    assert parent.info.run_name == "sw"
    assert parent.data.tags["ladder.role"] == "sweep"
    assert parent.data.tags["ladder.space"] == "compound_scaling"
    assert parent.data.params == {"epochs": "3", "phis": "(0, 1)"}
    assert child.info.run_name == "efficientnet_phi1"
    assert child.data.tags["mlflow.parentRunId"] == parent_id
    assert child.data.tags["ladder.role"] == "trial"
    assert child.data.tags["ladder.trial_id"] == "ab_00001"
    assert child.data.tags["ladder.sweep"] == "sw"
    assert child.data.tags["ladder.arch"] == "efficientnet"
    assert child.data.tags["ladder.status"] == "running"
    assert child.data.params == {key: str(value) for key, value in flatten_config(CONFIG).items()}
    assert child.data.params["alpha"] == "1.2"
    assert "model" not in child.data.params and "recipe" not in child.data.params
    assert child.data.params["lr"] == "0.05" and child.data.params["data"] == "/shards"


def test_trial_started_twice_and_after_a_resume_is_one_child_run(store):
    first = tracker(store)
    run_id = first.trial_started("ab_00001", "efficientnet_phi1", CONFIG)
    assert first.trial_started("ab_00001", "efficientnet_phi1", CONFIG) == run_id

    resumed = tracker(store)  # a new driver process: only the store remembers
    assert resumed.start() == first.parent_run_id
    assert resumed.trial_started("ab_00001", "efficientnet_phi1", CONFIG) == run_id
    assert len(children(MlflowClient(store), resumed)) == 1


def test_an_epoch_is_logged_once_and_best_follows_top1(store):
    sweep = tracker(store)
    run_id = sweep.trial_started("ab_00001", "efficientnet_phi1", CONFIG)
    results = [
        {"val/acc1": 0.5, "val/acc5": 0.8, "train/epoch_time": 10.0, "model/macs": 12e6},
        {"val/acc1": 0.7, "val/acc5": 0.9, "train/epoch_time": 11.0, "model/macs": 12e6},
        {"val/acc1": 0.6, "val/acc5": 0.95, "train/epoch_time": 12.0},
    ]
    for epoch, result in enumerate(results, start=1):
        sweep.epoch_result("ab_00001", epoch, {**result, "config": {"lr": 1}, "date": "today"})
    sweep.epoch_result("ab_00001", 2, {"val/acc1": 0.99, "train/epoch_time": 99.0})  # a retry

    client = MlflowClient(store)
    assert steps(client, run_id, "val/acc1") == [(1, 0.5), (2, 0.7), (3, 0.6)]
    assert steps(client, run_id, "model/macs") == [(0, 12e6)]
    metrics = client.get_run(run_id).data.metrics
    assert metrics["best/val/acc1"] == 0.7
    assert metrics["best/epoch"] == 2
    assert metrics["best/val/acc5"] == 0.9  # top-5 of the best top-1 epoch, not the max
    assert metrics["train/total_time"] == 33.0
    assert "config" not in metrics and "date" not in metrics


def test_a_resumed_tracker_continues_the_history(store):
    sweep = tracker(store)
    run_id = sweep.trial_started("ab_00001", "efficientnet_phi1", CONFIG)
    sweep.epoch_result("ab_00001", 1, {"val/acc1": 0.6, "train/epoch_time": 10.0})
    sweep.epoch_result("ab_00001", 2, {"val/acc1": 0.4, "train/epoch_time": 10.0})

    resumed = tracker(store)
    resumed.trial_started("ab_00001", "efficientnet_phi1", CONFIG)
    resumed.epoch_result("ab_00001", 2, {"val/acc1": 0.9, "train/epoch_time": 10.0})
    resumed.epoch_result("ab_00001", 3, {"val/acc1": 0.5, "train/epoch_time": 5.0})

    client = MlflowClient(store)
    assert steps(client, run_id, "val/acc1") == [(1, 0.6), (2, 0.4), (3, 0.5)]
    metrics = client.get_run(run_id).data.metrics
    assert (metrics["best/val/acc1"], metrics["best/epoch"]) == (0.6, 1)
    assert metrics["train/total_time"] == 25.0


def test_trial_status_follows_the_trial(store):
    sweep = tracker(store)
    client = MlflowClient(store)
    ok = sweep.trial_started("ab_00001", "ok", CONFIG)
    bad = sweep.trial_started("ab_00002", "bad", CONFIG)
    sweep.trial_ended("ab_00001", "finished")
    sweep.trial_ended("ab_00002", "error")
    assert client.get_run(ok).info.status == "FINISHED"
    assert client.get_run(ok).data.tags["ladder.status"] == "finished"
    assert client.get_run(bad).info.status == "FAILED"
    assert client.get_run(bad).data.tags["ladder.status"] == "error"

    tracker(store).trial_started("ab_00002", "bad", CONFIG)  # Ray retries it after a resume
    assert client.get_run(bad).info.status == "RUNNING"
    assert client.get_run(bad).data.tags["ladder.status"] == "running"

    sweep.end()
    assert client.get_run(sweep.parent_run_id).info.status == "FINISHED"


def test_two_sweeps_in_one_process_keep_apart(store):
    one, two = tracker(store, "one"), tracker(store, "two")
    one.trial_started("ab_00001", "a", CONFIG)
    two.trial_started("ab_00001", "a", CONFIG)  # Ray trial ids repeat across sweeps
    client = MlflowClient(store)
    assert one.experiment_id != two.experiment_id
    assert len(children(client, one)) == len(children(client, two)) == 1


def test_artifacts_go_to_the_parent_run(store, tmp_path: Path):
    sweep = tracker(store)
    note = tmp_path / "notes.md"
    note.write_text("# sweep notes\n")
    sweep.log_artifact(note)
    names = [a.path for a in MlflowClient(store).list_artifacts(sweep.parent_run_id)]
    assert names == ["notes.md"]


@pytest.mark.slow  # a real server (the session's, ~10 s to start)
@pytest.mark.parametrize("page", [1000, 7, 2])
def test_a_servers_runs_are_each_found_once_by_the_parallel_search(
    mlflow_server, page, monkeypatch
):
    """From a server, past its first page, `search_all_runs` splits the search into
    start-time ranges read at once: runs sharing a start time (the page's last one's
    included), the first and the last, are each found once, with the filter applied, and
    an empty result is empty. (Pages of 7 and 2 runs stand for MLflow's 1,000.)"""
    monkeypatch.setattr(schema, "SEARCH_PAGE", page)
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment_id = client.create_experiment(f"parallel-search-{page}")
    starts = [1000, 1000, 1001, 1500, 1999, 2000, 2000, 2000, *range(3000, 3030), *[3030] * 3]
    parity = {}
    for index, start in enumerate(starts):
        run = client.create_run(experiment_id, start_time=start, tags={"probe": str(index % 2)})
        parity[run.info.run_id] = str(index % 2)
    found = [run.info.run_id for run in search_all_runs(client, [experiment_id], {})]
    assert sorted(found) == sorted(parity)
    odd = [run.info.run_id for run in search_all_runs(client, [experiment_id], {"probe": "1"})]
    assert sorted(odd) == sorted(run_id for run_id, value in parity.items() if value == "1")
    assert search_all_runs(client, [experiment_id], {"probe": "2"}) == []


def test_a_sqlite_store_gets_query_statistics_and_a_busy_or_missing_one_is_left_alone(
    store, tmp_path: Path
):
    """`ladder ui` refreshes them at start: without them sqlite orders the trials page by a
    metric with a scan per run (8 s at 10,000 runs instead of 0.1 s)."""
    log_sweep(store)
    path = store.removeprefix("sqlite:///")
    schema.refresh_query_statistics(store)
    with closing(sqlite3.connect(path)) as db:
        analysed = {row[0] for row in db.execute("SELECT tbl FROM sqlite_stat1")}
    assert {"runs", "tags", "latest_metrics"} <= analysed
    missing = tmp_path / "elsewhere" / "mlflow.db"
    schema.refresh_query_statistics(f"sqlite:///{missing}")
    assert not missing.exists()  # no empty store made where the user mistyped a path
    schema.refresh_query_statistics("http://127.0.0.1:9")  # a server: nothing to do here
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")  # a sweep holding the store
        start = time.monotonic()
        schema.refresh_query_statistics(store)
        assert time.monotonic() - start < 10


def test_a_running_trial_tune_no_longer_knows_is_lost_and_off_the_leaderboard(store):
    """A trial begun just before its driver was killed, which the resumed sweep ran again
    under another id: closed as `lost`, and not a row of the leaderboard."""
    from pipeline.report.leaderboard import leaderboard_rows

    sweep = tracker(store)
    ghost = sweep.trial_started("ghost", "efficientnet_phi1", CONFIG)
    kept = sweep.trial_started("kept", "efficientnet_phi1", CONFIG)
    sweep.epoch_result("kept", 1, {"val/acc1": 0.5}, None)
    sweep.trial_ended("kept", "finished")
    midway = sweep.trial_started("midway", "efficientnet_phi1", CONFIG)  # Tune knows it
    sweep.trials_known({"kept", "midway"})
    client = MlflowClient(store)
    assert client.get_run(ghost).data.tags["ladder.status"] == "lost"
    assert client.get_run(ghost).info.status == "KILLED"
    assert client.get_run(kept).data.tags["ladder.status"] == "finished"
    assert client.get_run(midway).data.tags["ladder.status"] == "running"
    (row,) = leaderboard_rows(client, "sw")
    assert row.n == 1 and row.status == "running"  # kept and midway: one point, one scored
