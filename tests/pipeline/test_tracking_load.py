"""The leaderboard over many trials: a generated sweep of 200 trials in a real sqlite store
(`pipeline.bench.tracking_load`) is read with a number of store requests that does not grow
with the trials, and gives the rows the per-run history would; its Pareto marks and ties
are those of the pairwise definitions."""

from __future__ import annotations

import random
import shutil

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from lightning_modules.metric_names import VAL_LAST_EPOCH
from pipeline.bench.tracking_load import generate_sweep, load_trials
from pipeline.report.leaderboard import leaderboard_rows, pareto_front
from pipeline.report.noise import front_ties
from pipeline.tracking.schema import epochs_done, search_all_runs
from pipeline.tracking.trial_runs import trial_tags
from tests.pipeline.conftest import MEASURED_TRIALS, CountingClient, log_sweep

TRIALS = 200


@pytest.fixture(scope="module")
def load_store(tmp_path_factory: pytest.TempPathFactory, empty_store_file) -> str:
    folder = tmp_path_factory.mktemp("load")
    shutil.copy(empty_store_file, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    generate_sweep(uri, TRIALS, "load")
    return uri


def trial_runs(client: MlflowClient, experiment: str = "load") -> list:
    experiment = client.get_experiment_by_name(experiment)
    return search_all_runs(client, [experiment.experiment_id], {"ladder.role": "trial"})


def test_store_requests_do_not_grow_with_the_trials(load_store):
    client = CountingClient(MlflowClient(load_store))
    rows = leaderboard_rows(client, "load")
    assert sum(len(row.seeds) for row in rows) == TRIALS  # every trial, in its point
    assert "get_metric_history" not in client.calls and "get_run" not in client.calls
    assert sum(client.calls.values()) <= 4, client.calls  # experiment + one page of runs


def test_epochs_are_those_of_the_history(load_store):
    client = MlflowClient(load_store)
    runs = trial_runs(client)
    assert len(runs) == TRIALS
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val/acc1")
        assert epochs_done(client, run) == max((m.step for m in history), default=0)
    statuses = {row.status for row in leaderboard_rows(client, "load")}
    assert {"finished", "stopped at epoch 1", "error", "diverged", "running"} <= statuses


def test_a_run_logged_before_the_summary_reads_its_history(store):
    tracker = log_sweep(store, trials=MEASURED_TRIALS[:1])
    client = tracker.client
    config = {"model": {"arch": "resnet18", "resolution": 32}, "recipe": {"seed": 0}}
    tags = trial_tags("sweep-a", "demo", "old", tracker.parent_run_id, config)
    old = client.create_run(tracker.experiment_id, run_name="resnet18_r32",
                            tags=tags | {"ladder.status": "stopped"})  # fmt: skip
    client.log_batch(old.info.run_id, metrics=[
        Metric("val/acc1", 0.5, 0, 1), Metric("val/acc1", 0.7, 0, 2), Metric("val/acc1", 0.6, 0, 3),
        Metric("best/val/acc1", 0.7, 0, 3), Metric("best/epoch", 2.0, 0, 3),
    ])  # fmt: skip
    assert VAL_LAST_EPOCH not in client.get_run(old.info.run_id).data.metrics
    row = {row.trial: row for row in leaderboard_rows(client, "sweep-a")}["resnet18_r32"]
    assert (row.epochs, row.status, row.best_epoch, row.top1) == (3, "stopped at epoch 3", 2, 0.7)


def test_the_generator_writes_what_the_tracker_writes(store, load_store):
    log_sweep(store, trials=MEASURED_TRIALS[:1])
    (live,) = trial_runs(MlflowClient(store), "sweep-a")
    client = MlflowClient(load_store)
    finished = [run for run in trial_runs(client) if run.data.tags["ladder.status"] == "finished"]
    generated = finished[0]
    assert generated.data.tags.keys() == live.data.tags.keys()
    assert generated.data.metrics.keys() == live.data.metrics.keys()
    assert set(live.data.params) <= set(generated.data.params)
    assert load_trials(50, seed=3) == load_trials(50, seed=3) != load_trials(50, seed=4)


def pairwise_front(points):
    """The definition, every pair: what `pareto_front` must equal."""
    return {
        i
        for i, (c, t) in enumerate(points)
        if not any(oc <= c and ot >= t and (oc, ot) != (c, t) for oc, ot in points)
    }


def pairwise_ties(points, front):
    """The noise ties' definition, every pair: what `front_ties` must equal."""
    return {
        i
        for i, (c, (_, high)) in enumerate(points)
        if i not in front and not any(oc <= c and low > high for oc, (low, _) in points)
    }


@pytest.mark.parametrize("seed", range(20))
def test_front_and_ties_in_one_pass_match_the_pairwise_definitions(seed):
    rng = random.Random(seed)
    points = [(rng.choice([1.0, 2.0, 3.0, 4.0, 5.0]), rng.choice([0.5, 0.6, 0.7, 0.8]))
              for _ in range(rng.randint(0, 30))]  # fmt: skip
    front = pareto_front(points)
    assert front == pairwise_front(points)
    intervals = [(cost, (top1 - rng.choice([0, 0.05]), top1 + rng.choice([0, 0.05])))
                 for cost, top1 in points]  # fmt: skip
    assert front_ties(intervals, front) == pairwise_ties(intervals, front)
