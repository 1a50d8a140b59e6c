"""`ladder train` through an outage of its MLflow server: the run trains on, exits 0 and
names `ladder sync --run`, which sends every epoch once, into the one MLflow run."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest

from tests.pipeline.conftest import MlflowProcess, wait_until

EPOCHS = 3


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_training_run_outlives_its_tracking_server(digits_shards, tmp_path):
    server = MlflowProcess(tmp_path)
    server.start()
    env = {"MLFLOW_TRACKING_URI": server.url}
    command = [sys.executable, "-m", "pipeline", "train", "--arch", "lenet5",
               "--data", str(digits_shards), "--out", str(tmp_path / "runs"),
               "--epochs", str(EPOCHS), "--loader-workers", "1"]  # fmt: skip
    log = tmp_path / "train.log"
    client = mlflow.MlflowClient(server.url)

    def run_created() -> bool:  # before its first epoch: ~20 s of imports and setup
        experiment = client.get_experiment_by_name("train")
        return bool(experiment and client.search_runs([experiment.experiment_id]))

    try:
        with log.open("w") as out:
            training = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                        env={**os.environ, **env})  # fmt: skip
        wait_until(run_created, 300, "the run did not reach MLflow")
        server.kill()
        assert training.wait(timeout=600) == 0, log.read_text()[-3000:]
    finally:
        server.kill()
    (run_dir,) = (tmp_path / "runs").glob("lenet5-*")
    output = log.read_text()
    assert sum("tracking server unreachable" in line for line in output.splitlines()) == 1
    assert f"`ladder sync --run {run_dir}` sends them" in output

    server.start()
    try:
        sync = [sys.executable, "-m", "pipeline", "sync", "--run", str(run_dir)]
        done = subprocess.run(sync, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **env})  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "records" in done.stdout
        experiment = client.get_experiment_by_name("train")
        (run,) = client.search_runs([experiment.experiment_id])  # one run, no ghost
        epochs = client.get_metric_history(run.info.run_id, "val/acc1")
        assert len(epochs) == EPOCHS and len({m.step for m in epochs}) == EPOCHS
        assert run.info.status == "FINISHED"
        assert run.data.params["arch"] == "lenet5"
    finally:
        server.kill()
