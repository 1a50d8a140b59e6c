"""`ladder sweep` end to end: real Ray, real training on the digits shards, real MLflow.

Sweeps run as `ladder sweep` subprocesses, as a user runs them, so this process never
joins a Ray: they attach to the two-node cluster of `two_node_cluster` (RAY_ADDRESS) or
start a local Ray of their own. LeNet-5 trains an epoch of digits in about a second; the
time goes to Ray starting processes: a sweep's Ray, each slot's Tune actor (~7 s of
imports here), a DDP trial's Ray Train workers (~20 s a trial on this 2-core box).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray
from ray.tune.search.variant_generator import generate_variants

import tune_spaces
from pipeline.cli import build_parser, main
from pipeline.commands.sweep import sweep_config
from pipeline.sweep.plan import SweepPlan, trial_name
from pipeline.sweep.planning import plan_new
from pipeline.tracking.schema import EPOCH_METRICS
from tests.pipeline.conftest import (
    TRIALS,
    PlannedTrial,
    RayCluster,
    free_port,
    private_ray_tmpdir,
    stop_ray_processes,
)
from tests.pipeline.sweeps import (
    assert_each_step_once,
    finish,
    history,
    lenet5_sweep,
    sweep,
    sweep_env,
    sweeping,
    training_workers,
    trial_runs,
    tune_results,
    wait_for,
)

# ------------------------------------------------------------------ bad input: nothing runs


BAD_INPUT = {
    "unknown space": (["--space", "nosuch"], {}, ["nosuch", *tune_spaces.SPACES]),
    "empty grid": (
        ["--space", "compound_scaling", "--set", "alphas=1.0", "--set", "betas=1.0",
         "--set", "gammas=1.0"],
        {},
        ["compound_scaling", "no grid point"],
    ),
    "missing data": (["--space", "ladder", "--data", "nowhere"], {}, ["--data", "nowhere"]),
    "unknown setting": (["--space", "ladder", "--set", "archz=lenet5"], {}, ["archz", "archs"]),
    "unreachable cluster": (
        ["--space", "ladder", "--set", "archs=lenet5"],
        {"RAY_ADDRESS": f"127.0.0.1:{free_port()}"},  # nothing listens there
        ["RAY_ADDRESS=127.0.0.1:"],
    ),
    "resume nosuch": (["--resume", "nosuch"], {}, ["--resume nosuch"]),
    "no seeds": (["--space", "ladder", "--seeds", "0"], {}, ["--seeds '0'", "1 to 100"]),
    "half a seed": (["--space", "ladder", "--seeds", "1.5"], {}, ["--seeds '1.5'", "whole"]),
    "negative seeds": (["--space", "ladder", "--seeds=-2"], {}, ["--seeds '-2'", "whole"]),
    "too many seeds": (["--space", "ladder", "--seeds", "1000"], {}, ["--seeds '1000'", "100"]),
    "seeds on resume": (["--resume", "x", "--seeds", "2"], {}, ["--seeds", "not with --resume"]),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_line_and_launches_nothing(
    case, digits_shards, tmp_path, monkeypatch, capsys
):
    args, env, words = BAD_INPUT[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    storage = tmp_path / "sweeps"
    argv = ["sweep", "--data", str(digits_shards), "--storage", str(storage), *args]

    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ladder sweep: error:"), lines
    assert all(word in lines[0] for word in words), lines[0]
    assert not ray.is_initialized()
    assert not storage.exists() and not (tmp_path / "mlflow.db").exists()


# ------------------------------------------------------------------ crash and resume


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_sweep_resumes_after_its_driver_is_killed(digits_shards, store, tmp_path):
    """The laptop case: SIGKILL the driver and the local Ray it started, then --resume."""
    storage = tmp_path / "sweeps"
    # LeNet-5 finishes its 3 epochs while MobileNetV2 (~6 s an epoch) is in its second.
    args = ["--space", "ladder", "--set", "archs=lenet5,mobilenetv2", "--set", "resolution=32",
            "--epochs", "3", "--data", str(digits_shards), "--name", "crash",
            "--storage", str(storage)]  # fmt: skip
    ray_tmpdir = private_ray_tmpdir()
    env = sweep_env(RAY_TMPDIR=ray_tmpdir)
    env.pop("RAY_ADDRESS", None)

    def one_finished_one_midway() -> tuple[str, str] | None:
        runs = trial_runs(store, "crash")
        status = {trial: run.data.tags["ladder.status"] for trial, run in runs.items()}
        done = [trial for trial in runs if status[trial] == "finished"]
        midway = [t for t in runs if status[t] == "running" and history(store, runs[t])]
        return (done[0], midway[0]) if done and midway else None

    try:
        # Tune then saves the sweep's state only as it starts: the worst of its lag, where
        # the trial that finished is restored as running (see worker.ReportEveryEpoch).
        lagging = {**env, "TUNE_GLOBAL_CHECKPOINT_S": "3600"}
        with sweeping(args, lagging, tmp_path / "1.log") as driver:
            finished, interrupted = wait_for(one_finished_one_midway, driver, tmp_path / "1.log")
            killed_ms = time.time() * 1000
            os.kill(driver.pid, signal.SIGKILL)
        stop_ray_processes(ray_tmpdir)  # the local Ray it started, now orphaned
        (finished_folder,) = (storage / "crash").glob(f"*_{finished}")  # one-worker trials
        checkpoints = sorted(finished_folder.glob("checkpoint_*"))
        assert checkpoints

        sweep(["--resume", "crash", "--storage", str(storage)], env, tmp_path / "2.log")
    finally:
        stop_ray_processes(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)

    runs = trial_runs(store, "crash")
    assert sorted(runs) == sorted([finished, interrupted])  # one child run per trial
    for run in runs.values():
        assert run.info.status == "FINISHED" and run.data.tags["ladder.status"] == "finished"
        assert_each_step_once(store, run)
    # The finished trial did not train again: nothing new in MLflow or in its folder.
    done = history(store, runs[finished])
    assert [metric.step for metric in done] == [1, 2, 3]
    assert all(metric.timestamp < killed_ms for metric in done)
    assert sorted(finished_folder.glob("checkpoint_*")) == checkpoints
    # The interrupted one went on from its checkpoint: after the crash, no epoch 1 again.
    rows = tune_results(storage / "crash")[interrupted]
    resumed = [row["epoch"] for row in rows  # trained by the new trial actor, not replayed
               if row["pid"] == rows[-1]["pid"] and not row.get("replayed")]  # fmt: skip
    assert resumed[0] > 1 and resumed[-1] == 3, resumed
    after_crash = [m.step for m in history(store, runs[interrupted]) if m.timestamp > killed_ms]
    assert after_crash and min(after_crash) > 1 and max(after_crash) == 3


# ------------------------------------------------------------------ on a two-node cluster


@dataclass(frozen=True)
class ClusterSweep:
    """A finished sweep on `two_node_cluster` that several tests read."""

    name: str
    uri: str  # its own sqlite store
    folder: Path  # STORAGE/NAME: Tune's trial folders
    output: str


def cluster_sweep(
    name: str, flags: list[str], cluster: RayCluster, data: Path, template: Path, folder: Path
) -> ClusterSweep:
    """`ladder sweep FLAGS` named `name` on `cluster`, with a store of its own."""
    shutil.copy(template, folder / "mlflow.db")
    uri, storage = f"sqlite:///{folder / 'mlflow.db'}", folder / "sweeps"
    args = [*flags, "--data", str(data), "--name", name, "--storage", str(storage)]
    env = sweep_env(MLFLOW_TRACKING_URI=uri, RAY_ADDRESS=cluster.address)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # the sqlite store's artifacts go to ./mlruns
        output = sweep(args, env, folder / "sweep.log")
    return ClusterSweep(name, uri, storage / name, output)


SEEDS = [0, 1, 2, 3]
SEEDED = ["--space", "ladder", "--set", "archs=lenet5", "--epochs", "1", "--seeds", "4"]


@pytest.fixture(scope="module")
def seeded(two_node_cluster, digits_shards, empty_store_file, tmp_path_factory) -> ClusterSweep:
    """LeNet-5 with seeds 0 to 3, one epoch each: four 1-CPU trials on the two 1-CPU nodes,
    the cheapest sweep there is (an EfficientNet-B0 point made it outlast the 300 s here)."""
    folder = tmp_path_factory.mktemp("seeded")
    return cluster_sweep("seeded", SEEDED, two_node_cluster, digits_shards, empty_store_file,
                         folder)  # fmt: skip


@pytest.mark.slow
def test_trials_spread_over_both_nodes(seeded: ClusterSweep, two_node_cluster: RayCluster):
    results = tune_results(seeded.folder)
    assert len(results) == 4
    assert {rows[-1]["worker_node"] for rows in results.values()} == two_node_cluster.node_ids
    # one-worker trials train in their Tune actor, which the next trial reuses (imports done)
    assert len({rows[-1]["pid"] for rows in results.values()}) < len(results)
    runs = trial_runs(seeded.uri, seeded.name)
    assert sorted(runs) == sorted(results)
    for run in runs.values():
        assert run.data.tags["ladder.status"] == "finished"
        assert set(EPOCH_METRICS) <= run.data.metrics.keys()  # the epoch's own times too
        metrics = run.data.metrics  # each trial measured its cost after training
        assert metrics["model/infer_images_per_sec"] > 0 and metrics["model/latency_ms"] > 0
        assert metrics["model/peak_memory_mb"] >= 0 and metrics["model/activations"] > 0


@pytest.mark.slow
def test_seeds_train_every_point_k_times_and_the_leaderboard_averages_them(
    seeded: ClusterSweep, monkeypatch, capsys
):
    assert "sweep seeded: 4 trials of space ladder (1 models x seeds 0..3)" in seeded.output
    results = tune_results(seeded.folder)
    seeds = [rows[0]["config"]["trial"]["recipe"]["seed"] for rows in results.values()]
    assert sorted(seeds) == SEEDS
    runs = trial_runs(seeded.uri, seeded.name)
    named = {run.info.run_name: run for run in runs.values()}
    assert sorted(named) == [f"lenet5_r32_seed{seed}" for seed in SEEDS]
    for name, run in named.items():
        assert f"{name}  epoch 1/1" in seeded.output
        assert run.data.params["seed"] == name[-1]  # the recipe's seed is a param
        assert run.data.tags["ladder.status"] == "finished"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", seeded.uri)
    assert main(["leaderboard", "--experiment", seeded.name, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)  # one row: the point, its four seeds
    top1 = [run.data.metrics["best/val/acc1"] for run in named.values()]
    assert (row["trial"], row["n"], row["seeds"]) == ("lenet5_r32", 4, SEEDS)
    assert row["top1"] == pytest.approx(statistics.fmean(top1))
    assert row["top1_std"] == pytest.approx(statistics.stdev(top1))


@pytest.fixture(scope="module")
def asha(two_node_cluster, digits_shards, empty_store_file, tmp_path_factory) -> ClusterSweep:
    """Each trial takes both nodes' CPUs (2 DDP workers), so trials run one at a time and
    each needs the CPUs of the one before back. ASHA stops MobileNetV2 after epoch 1 (at
    chance while LeNet-5 learns); LeNet-5 then trains all its epochs on those CPUs."""
    flags = ["--space", "ladder", "--set", "archs=lenet5,mobilenetv2,lenet5", "--set",
             "resolution=32", "--epochs", str(ASHA_EPOCHS), "--workers-per-trial", "2",
             "--scheduler", "asha"]  # fmt: skip
    folder = tmp_path_factory.mktemp("asha")
    return cluster_sweep("asha", flags, two_node_cluster, digits_shards, empty_store_file, folder)


ASHA_EPOCHS = 2


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_trial_of_two_ddp_workers_finishes(asha: ClusterSweep):
    assert "WorkerGroupStartupTimeoutError" not in asha.output
    for rows in tune_results(asha.folder).values():
        assert {row["workers"] for row in rows} == {2}  # Lightning's world size: one a node
    runs = trial_runs(asha.uri, asha.name).values()
    lenet5 = [run for run in runs if run.data.tags["ladder.arch"] == "lenet5"]
    assert [run.data.tags["ladder.status"] for run in lenet5] == ["finished", "finished"]
    for run in lenet5:
        assert [m.step for m in history(asha.uri, run)] == list(range(1, ASHA_EPOCHS + 1))


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_asha_stops_a_trial_early_and_the_next_one_gets_its_cpus(asha: ClusterSweep):
    results = tune_results(asha.folder)
    done = {trial: rows[-1]["epoch"] for trial, rows in results.items()}
    arch = {trial: rows[0]["config"]["trial"]["model"]["arch"] for trial, rows in results.items()}
    assert sorted((arch[t], done[t]) for t in results) == [
        ("lenet5", ASHA_EPOCHS), ("lenet5", ASHA_EPOCHS), ("mobilenetv2", 1)  # stopped early
    ], asha.output[-6000:]  # fmt: skip
    runs = trial_runs(asha.uri, asha.name)
    assert sorted(runs) == sorted(results)
    for trial, run in runs.items():  # every trial ended, the stopped one too: none stuck
        status = "stopped" if arch[trial] == "mobilenetv2" else "finished"
        assert run.data.tags["ladder.status"] == status, (trial, run.data.tags)
        assert [m.step for m in history(asha.uri, run)] == list(range(1, done[trial] + 1))
    assert "stopped at epoch 1" in asha.output  # the leaderboard printed at the end


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_killed_training_worker_resumes_from_its_checkpoint(
    two_node_cluster: RayCluster, digits_shards, store, tmp_path
):
    storage, log = tmp_path / "sweeps", tmp_path / "sweep.log"
    args = lenet5_sweep(1, 5, digits_shards, "worker-kill", storage)

    def checkpointed() -> bool:
        runs = trial_runs(store, "worker-kill")
        return any(history(store, run) for run in runs.values())

    with sweeping(args, sweep_env(RAY_ADDRESS=two_node_cluster.address), log) as driver:
        wait_for(checkpointed, driver, log)  # epoch 1 reported, so its checkpoint registered
        (victim,) = training_workers(two_node_cluster.ray_tmpdir)
        os.kill(victim, signal.SIGKILL)
        # Ray Train starts a new worker group in its place.
        wait_for(lambda: set(training_workers(two_node_cluster.ray_tmpdir)) - {victim}, driver, log)
        finish(driver, log)

    (rows,) = tune_results(storage / "worker-kill").values()
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5]  # on from epoch 1's checkpoint
    (run,) = trial_runs(store, "worker-kill").values()
    assert run.data.tags["ladder.status"] == "finished"
    assert [metric.step for metric in history(store, run)] == [1, 2, 3, 4, 5]


@pytest.mark.slow
def test_diverging_trials_end_early_as_diverged_and_the_sweep_moves_on(
    two_node_cluster: RayCluster, digits_shards, store, tmp_path, capsys
):
    storage = tmp_path / "sweeps"
    args = [*lenet5_sweep(2, 3, digits_shards, "diverge", storage), "--set", "lr=10000"]
    output = sweep(args, sweep_env(RAY_ADDRESS=two_node_cluster.address), tmp_path / "sweep.log")

    results = tune_results(storage / "diverge")
    assert len(results) == 2  # the second trial ran after the first diverged
    for rows in results.values():
        assert rows[-1]["diverged"] == 1 and rows[-1]["epoch"] < 3  # ended early
    for run in trial_runs(store, "diverge").values():
        assert run.data.tags["ladder.status"] == "diverged"
        assert run.data.metrics["diverged"] == 1 and run.info.status == "FAILED"
    assert output.count("diverged") >= 2  # the console's trial table says so
    assert main(["leaderboard", "--experiment", "diverge", "--format", "json"]) == 0
    assert {row["status"] for row in json.loads(capsys.readouterr().out)} == {"diverged"}


def test_seeds_are_in_the_plan_every_trial_config_and_name(digits_shards, tmp_path):
    """--seeds 3 from --set seed=5: seeds 5, 6, 7 of each model, through the saved plan."""
    argv = ["sweep", "--space", "ladder", "--set", "archs=lenet5,alexnet", "--set",
            "resolution=64", "--epochs", "1", "--data", str(digits_shards), "--storage",
            str(tmp_path), "--seeds", "3", "--set", "seed=5"]  # fmt: skip
    plan = SweepPlan.from_json(
        plan_new(sweep_config(build_parser(argv).parse_args(argv))).to_json()
    )
    assert plan.seeds == 3
    configs = [config for _, config in generate_variants(plan.param_space)]
    trials = sorted((config["trial"]["model"]["arch"], config["trial"]["recipe"]["seed"])
                    for config in configs)  # fmt: skip
    assert trials == [("alexnet", 5), ("alexnet", 6), ("alexnet", 7),
                      ("lenet5", 5), ("lenet5", 6), ("lenet5", 7)]  # fmt: skip
    assert trial_name(plan, configs[0]) == "lenet5_r64_seed5"  # Tune grids the models first
    assert trial_name(plan, configs[-1]) == "alexnet_r64_seed7"
    assert plan.trials()[0].seed == 5
    assert plan.epochs == 1

    argv = ["sweep", *lenet5_sweep(1, 1, digits_shards, "one", tmp_path)]
    plan = plan_new(sweep_config(build_parser(argv).parse_args(argv)))
    assert plan.seeds == 1
    (config,) = [config for _, config in generate_variants(plan.param_space)]
    assert trial_name(plan, config) == "lenet5_r32"  # one seed: the name of the point alone


# ------------------------------------------------------------------ --from-sweep: no Ray needed


def test_from_sweep_scales_the_best_point_of_an_earlier_sweep(store, sweep_logger, digits_shards):
    """efficientnet_family --from-sweep takes (alpha, beta, gamma) of the top-1 trial."""
    best = PlannedTrial(
        "t_00009", "efficientnet_a1.4_b1_g1.2_r269",
        {"arch": "efficientnet", "resolution": 269, "width": 1.0, "depth": 1.4,
         "alpha": 1.4, "beta": 1.0, "gamma": 1.2, "phi": 1},
        5.3e6, 0.8e9, [0.70, 0.91], [0.95, 0.99],
    )  # fmt: skip
    sweep_logger(store, sweep="cs1", trials=[*TRIALS, best])
    argv = ["sweep", "--space", "efficientnet_family", "--from-sweep", "cs1"]
    argv += ["--data", str(digits_shards), "--set", "phis=0,2"]
    plan = plan_new(sweep_config(build_parser(argv).parse_args(argv)))
    models = [trial.model for trial in plan.trials()]
    assert [(m.alpha, m.beta, m.gamma, m.phi) for m in models] == [
        (1.4, 1.0, 1.2, 0),
        (1.4, 1.0, 1.2, 2),
    ]
    assert models[1].depth == 1.96 and models[1].resolution == round(224 * 1.2**2)


def test_from_sweep_needs_the_family_space(store, sweep_logger, digits_shards, capsys):
    sweep_logger(store, sweep="cs1")
    argv = ["sweep", "--space", "ladder", "--from-sweep", "cs1", "--data", str(digits_shards)]
    assert main(argv) == 2
    assert "--from-sweep only goes with --space efficientnet_family" in capsys.readouterr().err


def test_a_lost_nodes_expected_errors_are_one_line_each(caplog):
    """A lost node's ActorUnavailableError reaches Tune's log (in the driver) and Ray
    Train's backend-shutdown warning (in the trial's controller) as one line each."""
    import logging

    from ray.exceptions import ActorUnavailableError

    from pipeline.sweep.console import (
        BACKEND_SHUTDOWN,
        TUNE_CONTROLLER,
        QuietController,
        quiet_driver,
    )

    error = ActorUnavailableError("RpcError: Socket closed\nmore\nlines", None)
    tune_logger, train_logger = (
        logging.getLogger(TUNE_CONTROLLER),
        logging.getLogger(BACKEND_SHUTDOWN[0]),
    )
    saved = tune_logger.filters[:], train_logger.filters[:]
    try:
        quiet_driver(loud=False, local_ray=False)
        QuietController().after_controller_start(None)
        with caplog.at_level(logging.WARNING):
            tune_logger.error("Trial task failed for trial efficientnet_r48", exc_info=error)
            tune_logger.error("something else", exc_info=error)  # other messages keep theirs
            train_logger.warning(BACKEND_SHUTDOWN[1] + ". This is expected ...", exc_info=error)
    finally:
        tune_logger.filters[:], train_logger.filters[:] = saved
    failed, other, shutdown = caplog.records
    for one_line in (failed, shutdown):
        assert one_line.exc_info is None and "\n" not in one_line.getMessage()
        assert ": ActorUnavailableError: The actor " in one_line.getMessage()
        assert one_line.getMessage().endswith("RpcError: Socket closed")
    assert failed.getMessage().startswith("Trial task failed for trial efficientnet_r48: ")
    assert other.exc_info is not None


def test_a_failed_trial_task_names_its_cause_not_the_task_that_raised(caplog):
    import logging

    from ray.exceptions import ActorUnschedulableError, RayTaskError

    from pipeline.sweep.console import TRIAL_FAILED, OneLineErrors

    cause = ActorUnschedulableError("The placement group was removed.")
    error = RayTaskError("train", "Traceback ...", cause, proctitle="ray::ImplicitFunc.train()")
    logger = logging.getLogger("ladder.test")
    logger.addFilter(one_line := OneLineErrors(TRIAL_FAILED))
    try:
        with caplog.at_level(logging.ERROR, logger="ladder.test"):
            logger.error("Trial task failed for trial t1", exc_info=error.as_instanceof_cause())
    finally:
        logger.removeFilter(one_line)
    (record,) = caplog.records
    assert record.getMessage() == (
        "Trial task failed for trial t1: ActorUnschedulableError: The actor is not "
        "schedulable: The placement group was removed."
    )
