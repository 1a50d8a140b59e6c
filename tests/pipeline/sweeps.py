"""Running `ladder sweep` as a user does, from tests: subprocesses, logs, MLflow and Tune reads.

Shared by test_sweep.py (local Ray clusters) and test_cluster.py (`ray start` + PostgreSQL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import RAY_TEST_ENV, ray_processes

LADDER = str(Path(sys.executable).with_name("ladder"))
SWEEP_TIMEOUT_S = 600  # a bound, not a speed target: CI machines are slower than this one


def lenet5_sweep(trials: int, epochs: int, data: Path, name: str, storage: Path) -> list[str]:
    """`ladder sweep` flags for `trials` identical LeNet-5 trials: the cheapest grid there is."""
    archs = ",".join(["lenet5"] * trials)
    return ["--space", "ladder", "--set", f"archs={archs}", "--epochs", str(epochs),
            "--data", str(data), "--name", name, "--storage", str(storage)]  # fmt: skip


def sweep_env(**extra: str) -> dict[str, str]:
    """This process's environment (MLFLOW_TRACKING_URI from `store`) for a sweep."""
    return {**os.environ, **RAY_TEST_ENV, **extra}


@contextmanager
def sweeping(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`ladder sweep ARGS` in a session of its own, its output in `log`; killed on exit."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [LADDER, "sweep", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def finish(process: subprocess.Popen, log: Path) -> str:
    """Wait for a sweep to end; its output. Fails unless it exits 0."""
    try:
        returncode = process.wait(timeout=SWEEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ladder sweep still running after {SWEEP_TIMEOUT_S} s:\n{tail(log)}")
    assert returncode == 0, tail(log)
    return log.read_text()


def sweep(args: list[str], env: dict[str, str], log: Path) -> str:
    with sweeping(args, env, log) as process:
        return finish(process, log)


def tail(log: Path) -> str:
    return log.read_text()[-6000:]


def wait_for(condition: Callable[[], Any], process: subprocess.Popen, log: Path) -> Any:
    """Poll `condition` until it returns something true, while the sweep runs; return it."""
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while not (found := condition()):
        if process.poll() is not None:
            pytest.fail(f"the sweep ended (exit {process.returncode}) too early:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {SWEEP_TIMEOUT_S} s:\n{tail(log)}")
        time.sleep(0.3)
    return found


def trial_runs(uri: str, sweep_name: str) -> dict[str, Any]:
    """The MLflow child runs of a sweep by Tune trial id ({} before the sweep logs any)."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], "tags.`ladder.role` = 'trial'")
    by_trial = {run.data.tags["ladder.trial_id"]: run for run in runs}
    assert len(by_trial) == len(runs), "two MLflow runs for one trial"
    return by_trial


def history(uri: str, run: Any, key: str = "val/acc1") -> list[Any]:
    """A metric's logged values, by step."""
    from mlflow import MlflowClient

    return sorted(MlflowClient(uri).get_metric_history(run.info.run_id, key), key=lambda m: m.step)


def assert_each_step_once(uri: str, run: Any) -> None:
    for key in run.data.metrics:
        steps = [metric.step for metric in history(uri, run, key)]
        assert len(steps) == len(set(steps)), f"{key} logged twice at a step: {steps}"


def tune_results(sweep_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """What Tune recorded of each trial (its result.json), by trial id, in order."""
    results = {}
    for path in sweep_dir.glob("*/result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            results[rows[0]["trial_id"]] = rows
    return results


def training_workers(ray_tmpdir: str) -> list[int]:
    """The processes that train in that Ray: a DDP trial's Ray Train workers, else a
    one-worker trial's Tune actor (`ImplicitFunc`); the ones a raylet started (their
    DataLoader workers are forks with the same title, and outlive them for a while)."""

    def command(pid: int) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    def parent(pid: int) -> int:
        try:
            return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except OSError:
            return 0

    started = [
        pid
        for pid in ray_processes(ray_tmpdir)
        if b"/raylet" in command(parent(pid)).split(b"\0")[0]
    ]
    ddp = [pid for pid in started if command(pid).startswith(b"ray::RayTrainWorker")]
    return ddp or [pid for pid in started if command(pid).startswith(b"ray::ImplicitFunc")]
