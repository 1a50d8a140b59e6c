"""A sweep's price before it runs: ASHA's expected epochs, the slots, the budget, the ETA,
`--dry-run` without Ray, and the estimate of a small real sweep against its wall time."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
import ray
from mlflow import MlflowClient

from lightning_modules.specs import Recipe, resolve_model
from pipeline.cli import main
from pipeline.sweep import console, estimate
from pipeline.sweep.config import Scheduler
from pipeline.sweep.console import EtaCallback
from pipeline.sweep.estimate import (
    BYTES_PER_ACTIVATION,
    SWEEP_STARTUP_S,
    TRIAL_STARTUP_S,
    ModelCost,
    Price,
    expected_epochs,
    format_estimate,
    probe_batch,
    wall_seconds,
)
from tests.pipeline.conftest import RayCluster
from tests.pipeline.sweeps import lenet5_sweep, sweep, sweep_env, trial_runs


def test_asha_trains_fewer_epochs_in_expectation():
    fifo, asha = Scheduler(name="fifo"), Scheduler(name="asha")
    assert expected_epochs(4, fifo) == 4
    assert expected_epochs(1, asha) == 1  # one rung: nobody is stopped before the end
    assert expected_epochs(2, asha) == 1 + 1 / 2
    assert expected_epochs(4, asha) == 1 + 1 / 2 + 2 / 4  # rungs at 1, 2 (and 4 = max_t)
    assert expected_epochs(10, asha) == 1 + 1 / 2 + 2 / 4 + 4 / 8 + 2 / 16
    # the file's grace period, reduction factor and max_t: rungs at 2 and 6, then 9 = max_t
    slow = Scheduler(name="asha", grace_period=2, reduction_factor=3, max_epochs=9)
    assert expected_epochs(20, slow) == 2 + 4 / 3 + 3 / 9
    assert expected_epochs(2, slow) == 2  # no trial outlives the grace period


def price(*trials: str, costs: dict[str, float]) -> Price:
    models = {
        name: ModelCost(name, 100.0, 400.0, 10.0, seconds, 32) for name, seconds in costs.items()
    }
    return Price(models, trials, epochs=2, expected_epochs=2, node_share=0.5, device="cpu")


def test_a_busy_machine_is_named_beside_the_estimate():
    quiet = price("a", costs={"a": 60.0})
    assert "busy" not in format_estimate(quiet, 1, "--max-concurrent")
    busy = replace(quiet, busy=3.5)
    assert "this machine is busy (3.5 runnable processes per CPU)" in format_estimate(
        busy, 1, "--max-concurrent"
    )


def test_trials_fill_the_slot_that_frees_first():
    plan = price("a", "b", "b", "a", costs={"a": 100.0, "b": 50.0})
    assert wall_seconds(plan, 1) == SWEEP_STARTUP_S + 300
    assert wall_seconds(plan, 2) == SWEEP_STARTUP_S + 200  # a | b, b | a
    assert wall_seconds(plan, 8) == SWEEP_STARTUP_S + 100
    assert plan.node_hours == pytest.approx(300 * 0.5 / 3600)


def test_the_eta_follows_the_reported_epochs(monkeypatch):
    plan = price("a", "b", costs={"a": TRIAL_STARTUP_S + 20.0, "b": TRIAL_STARTUP_S + 20.0})
    clock = iter([0.0, 0.0, 40.0, 40.0, 45.0])
    monkeypatch.setattr(console.time, "monotonic", lambda: next(clock))
    eta = EtaCallback(plan)  # two trials of two 10 s epochs
    assert "no epoch reported yet" in eta.line(10.0)
    config = {"model": {"arch": "lenet5", "resolution": 32}, "recipe": {"epochs": 2}}
    trials = [SimpleNamespace(trial_id=t, config=config) for t in ("1", "2")]
    eta.price.models["lenet5_r32"] = plan.models["a"]
    for trial in trials:
        eta.on_trial_result(0, trials, trial, {"epoch": 1})
    # Done: 2 x (startup + 10 s) of 2 x (startup + 20 s) in 40 s.
    share = (TRIAL_STARTUP_S + 10) / (TRIAL_STARTUP_S + 20)
    assert f"{share:.0%} of the estimated work done in 0m40s" in eta.line(40.0)
    eta.on_trial_complete(0, trials, trials[0])  # stopped early: its last epoch is no work
    eta.on_trial_complete(0, trials, trials[1])
    assert "100% of the estimated work done in 0m40s, ETA 0m00s" in eta.line(40.0)


def test_the_eta_prints_one_line_at_most_every_30_s(monkeypatch, capsys):
    clock = iter([0.0, 10.0, 31.0, 40.0, 62.0])
    monkeypatch.setattr(console.time, "monotonic", lambda: next(clock))
    eta = EtaCallback(price("a", costs={"a": 60.0}))  # its clock starts at 0
    for _ in range(4):  # at 10, 31, 40 and 62 s
        eta.on_step_end(0, [])
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ladder sweep: 0m31s elapsed, no epoch reported yet",
        "ladder sweep: 1m02s elapsed, no epoch reported yet",
    ]


def dry_run(capsys, digits_shards, tmp_path, *extra: str) -> tuple[int, str, str]:
    args = lenet5_sweep(3, 2, digits_shards, "priced", tmp_path / "sweeps")
    code = main(["sweep", *args, "--dry-run", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_dry_run_prints_the_plan_and_its_price_and_starts_nothing(
    digits_shards, tmp_path, capsys
):
    code, out, err = dry_run(capsys, digits_shards, tmp_path, "--max-concurrent", "2")
    assert code == 0, err
    assert "sweep priced: 3 trials of space ladder" in out
    grid, _, priced = out.partition("estimate:")
    assert grid.count("lenet5_r32") == 3 and priced.count("lenet5_r32") == 1  # probed once
    probe = next(line for line in priced.splitlines() if "lenet5_r32" in line).split()
    assert len(probe) == 6 and probe[1] == "64"  # the default recipe's batch
    assert float(probe[2]) > 0 and float(probe[3]) > 0  # train and eval images/s
    assert "3 trials x 2 epochs on 2 slot(s) (--max-concurrent)" in out
    assert re.search(r"node-hours, wall time about \d+m\d\ds", out)
    assert not ray.is_initialized() and not (tmp_path / "sweeps" / "priced").exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_a_dry_run_counts_every_seed_of_every_model(digits_shards, tmp_path, capsys):
    code, out, err = dry_run(capsys, digits_shards, tmp_path, "--seeds", "2")
    assert code == 0, err
    assert "sweep priced: 6 trials of space ladder (3 models x seeds 0..1)" in out
    assert out.partition("estimate:")[2].count("lenet5_r32") == 1  # still probed once
    assert "6 trials x 2 epochs on 2 slot(s)" in out
    one = float(re.search(r"([\d.]+) node-hours", dry_run(capsys, digits_shards, tmp_path)[1])[1])
    two = float(re.search(r"([\d.]+) node-hours", out)[1])
    assert two == pytest.approx(2 * one, rel=0.35)  # probes vary a little between runs


def test_asha_and_this_machines_slots_are_in_the_estimate(digits_shards, tmp_path, capsys):
    code, out, _ = dry_run(capsys, digits_shards, tmp_path, "--scheduler", "asha")
    assert code == 0
    assert "3 trials x 2 epochs (ASHA: 1.5 expected) on 2 slot(s) (this machine's CPUs)" in out


def test_a_plan_over_budget_is_refused_naming_its_estimate(digits_shards, store, tmp_path, capsys):
    code, out, err = dry_run(capsys, digits_shards, tmp_path, "--budget-hours", "0.00001")
    assert code == 2 and "wall time about" in out  # the estimate is shown, then refused
    assert re.fullmatch(
        r"ladder sweep: error: --budget-hours 1e-05: the plan is estimated at [\d.e-]+ "
        r"node-hours; raise the budget or shrink the sweep\n",
        err,
    )
    args = lenet5_sweep(3, 2, digits_shards, "over", tmp_path / "sweeps")
    assert main(["sweep", *args, "--budget-hours", "0.00001"]) == 2  # a real sweep too
    assert "--budget-hours" in capsys.readouterr().err
    assert not ray.is_initialized() and not (tmp_path / "sweeps" / "over").exists()


def test_a_resume_has_no_price(tmp_path, capsys):
    assert main(["sweep", "--resume", "--dry-run", "--storage", str(tmp_path)]) == 2
    assert "not with --resume" in capsys.readouterr().err


def test_a_probe_too_big_for_memory_takes_a_smaller_batch(monkeypatch):
    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}  # 4 MB free: half for the probe
    monkeypatch.setattr(estimate.os, "sysconf", pages.__getitem__)
    recipe = Recipe(batch_size=64)
    assert probe_batch(1_000, recipe, "cpu") == 64  # 16 kB an image: 128 would fit
    assert probe_batch(10_000, recipe, "cpu") == 2_048_000 // (BYTES_PER_ACTIVATION * 10_000)
    assert probe_batch(10**9, recipe, "cpu") == 1  # never none
    b7 = resolve_model("efficientnet", 600, width=2.0, depth=3.1)  # the paper's B7
    assert b7.size()["model/activations"] > 2.5e8  # ~4.6 GB an image in training


def core_share(seconds: float = 1.0) -> float:
    """The share of a core this process gets now: CPU time over wall time of a busy loop."""
    wall, cpu = time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall < seconds:
        pass
    return (time.thread_time() - cpu) / (time.perf_counter() - wall)


def seconds(text: str) -> float:
    """'1h02m' or '3m07s' as seconds."""
    hours = re.fullmatch(r"(\d+)h(\d\d)m", text)
    if hours:
        return 3600 * int(hours[1]) + 60 * int(hours[2])
    minutes = re.fullmatch(r"(\d+)m(\d\d)s", text)
    return 60 * int(minutes[1]) + int(minutes[2])


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_the_estimate_is_within_2x_of_a_real_sweep(
    two_node_cluster: RayCluster, digits_shards, store, tmp_path, capsys
):
    """The demo sweep (its four EfficientNets, one epoch each) on the two 1-CPU nodes:
    priced by a dry run on this machine (2 CPUs, 2 slots), then run for real, timed as
    the user waits for it.

    The price is that of an otherwise idle machine: where other work leaves this process
    less than half a core, the wall time measures that work instead (on a shared
    developer box, 76 s and 203 s for the same 57 s estimate, by how busy it was), so
    the comparison is skipped, saying so."""
    share = core_share()
    if share < 0.5:
        pytest.skip(f"this machine is busy: a busy loop got {share:.0%} of a core")
    args = ["--space", "demo", "--data", str(digits_shards), "--epochs", "1", "--name", "timed",
            "--storage", str(tmp_path / "sweeps")]  # fmt: skip
    assert main(["sweep", *args, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    estimated = seconds(re.search(r"wall time about (\S+)", printed)[1])

    start = time.monotonic()
    out = sweep(args, sweep_env(RAY_ADDRESS=two_node_cluster.address), tmp_path / "sweep.log")
    measured = time.monotonic() - start
    print(f"dry-run estimate {estimated:.0f} s, measured wall time {measured:.0f} s")
    assert 0.5 <= measured / estimated <= 2, (estimated, measured)
    assert "on 2 slot(s) (the cluster's CPUs/GPUs)" in out
    for run in trial_runs(store, "timed").values():  # each trial measured its cost
        metrics = MlflowClient(store).get_run(run.info.run_id).data.metrics
        assert metrics["model/infer_images_per_sec"] > 0 and metrics["model/latency_ms"] > 0
        assert metrics["model/peak_memory_mb"] >= 0 and metrics["model/activations"] > 0
