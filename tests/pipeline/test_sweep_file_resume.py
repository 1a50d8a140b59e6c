"""A sweep file's sweep killed and resumed: random draws come back as planned, and an
Optuna study goes on from the trials it had, rather than starting again."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
from pathlib import Path

import pytest

from pipeline.sweep.plan import SweepPlan
from tests.pipeline.conftest import private_ray_tmpdir, stop_ray_processes
from tests.pipeline.sweeps import (
    assert_each_step_once,
    sweep,
    sweep_env,
    sweeping,
    trial_runs,
    wait_for,
)

LENET_FILE = """\
space:
  models: [{arch: lenet5}]
  recipe: {from: demo, lr: {loguniform: [1e-3, 1e-2]}, epochs: 3}
search: {algorithm: %s, samples: 4, seed: 3}
resources: {max_concurrent: 1}
"""


def killed_then_resumed(
    search: str, finished: int, digits_shards: Path, store: str, tmp_path: Path
) -> Path:
    """`ladder sweep --config` of LENET_FILE killed (driver and its Ray) once `finished`
    trials have finished, then `--resume`d to the end; the sweep's folder."""
    (tmp_path / "lenet.yaml").write_text(LENET_FILE % search)
    storage = tmp_path / "sweeps"
    args = ["--config", str(tmp_path / "lenet.yaml"), "--data", str(digits_shards),
            "--name", search, "--storage", str(storage)]  # fmt: skip
    ray_tmpdir = private_ray_tmpdir()
    env = sweep_env(RAY_TMPDIR=ray_tmpdir, MLFLOW_TRACKING_URI=store)
    env.pop("RAY_ADDRESS", None)

    def enough_finished() -> bool:
        runs = trial_runs(store, search).values()
        return sum(run.data.tags["ladder.status"] == "finished" for run in runs) >= finished

    try:
        with sweeping(args, env, tmp_path / "1.log") as driver:
            wait_for(enough_finished, driver, tmp_path / "1.log")
            os.kill(driver.pid, signal.SIGKILL)
        stop_ray_processes(ray_tmpdir)
        sweep(["--resume", search, "--storage", str(storage)], env, tmp_path / "2.log")
    finally:
        stop_ray_processes(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)
    return storage / search


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_random_search_resumes_with_the_trials_it_drew(digits_shards, store, tmp_path):
    folder = killed_then_resumed("random", 1, digits_shards, store, tmp_path)
    plan = SweepPlan.from_json((folder / "ladder_sweep.json").read_text())
    runs = trial_runs(store, "random").values()  # Tune's grid keeps its trial ids
    planned = sorted(trial.recipe.lr for trial in plan.trials())
    assert sorted(float(run.data.params["lr"]) for run in runs) == planned
    for run in runs:
        assert run.data.tags["ladder.status"] == "finished"
        assert_each_step_once(store, run)


@pytest.mark.slow
@pytest.mark.scenario
def test_an_optuna_study_goes_on_after_a_kill(digits_shards, store, tmp_path):
    folder = killed_then_resumed("optuna", 2, digits_shards, store, tmp_path)
    every = trial_runs(store, "optuna").values()
    # a trial begun as the driver died, unknown to the resumed Tune, is closed as lost
    runs = [run for run in every if run.data.tags["ladder.status"] != "lost"]
    assert len(every) - len(runs) <= 1
    assert len(runs) == 4  # the study's 4 proposals in all, not 2 + 4
    assert {run.data.tags["ladder.status"] for run in runs} == {"finished"}
    state = sorted(folder.glob("searcher-state-*.pkl"))[-1]  # Tune's last copy of the searcher
    study = pickle.loads(state.read_bytes())["_ot_study"]
    assert len(study.trials) == 4 and all(trial.values for trial in study.trials)
    logged = sorted(float(run.data.params["lr"]) for run in runs)
    assert sorted(trial.params["recipe/lr"] for trial in study.trials) == pytest.approx(logged)
