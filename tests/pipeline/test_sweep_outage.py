"""A real `ladder sweep` whose MLflow server dies mid-sweep and is still down at its end:
the sweep exits 0 and names `ladder sync`, which sends the rest once the server is back.

It also reads the console as a newcomer would: the grid, the trial table, one line per
trial epoch, and none of the libraries' noise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.pipeline.conftest import MlflowProcess, private_ray_tmpdir, stop_ray_processes
from tests.pipeline.sweeps import (
    assert_each_step_once,
    finish,
    history,
    lenet5_sweep,
    sweep_env,
    sweeping,
    trial_runs,
    wait_for,
)

NOISE = ("TrainingReport(", "litlogger", "LeafSpec", "PreemptionWatcher", "Trial status:",
         "Requesting resources", "Seed set to", "GPU available", "sync_dist")  # fmt: skip


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_sweep_outlives_its_tracking_server_and_ladder_sync_sends_the_rest(
    digits_shards, tmp_path
):
    server = MlflowProcess(tmp_path)
    server.start()
    storage = tmp_path / "sweeps"
    ray_tmpdir = private_ray_tmpdir()
    env = sweep_env(RAY_TMPDIR=ray_tmpdir, MLFLOW_TRACKING_URI=server.url)
    env.pop("RAY_ADDRESS", None)
    log = tmp_path / "sweep.log"
    try:
        with sweeping(lenet5_sweep(2, 2, digits_shards, "down", storage), env, log) as driver:
            wait_for(lambda: any(history(server.url, run) for run in
                                 trial_runs(server.url, "down").values()), driver, log)  # fmt: skip
            server.kill()  # after a first epoch; the rest of the sweep runs without a server
            output = finish(driver, log)  # exit 0
    finally:
        stop_ray_processes(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)
        server.kill()

    lines = output.splitlines()
    assert lines[0] == "sweep down: 2 trials of space ladder"
    assert sum("tracking server unreachable" in line for line in lines) == 1
    not_sent = "tracking records not sent yet; `ladder sync down` sends them"
    assert sum(line.endswith(not_sent) for line in lines) == 1
    assert sum("epoch 2/2  val top-1" in line for line in lines) == 2  # one line per epoch
    assert "trial       arch    res  MACs  epoch  val top-1  elapsed  status" in lines
    assert not [line for line in lines if any(noise in line for noise in NOISE)]

    server.start()
    command = [sys.executable, "-m", "pipeline", "sync", "down", "--storage", str(storage)]
    synced = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "lenet5_r32" in synced.stdout  # the leaderboard
    try:
        runs = trial_runs(server.url, "down")  # fails on two runs for one trial
        assert len(runs) == 2
        for run in runs.values():
            assert [metric.step for metric in history(server.url, run)] == [1, 2]
            assert run.data.tags["ladder.status"] == "finished"
            assert_each_step_once(server.url, run)
    finally:
        server.kill()
