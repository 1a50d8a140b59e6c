"""The compose stack for real: images built, every service started, a sweep run on it, and
broken on purpose while it runs.

One module, one stack (docker/cluster.sh up, under a project name and ports of its own):
PostgreSQL, S3 (MinIO, or moto's server where no registry answers), the MLflow server, a
Ray head and two 1-CPU Ray workers. From the head, `ladder shards` and the demo sweep with
MLflow on PostgreSQL and everything in S3; during it a worker is `docker kill`ed after
its trial's first checkpoint, the head container is restarted (the driver dies with it)
and the sweep resumed from the new head, and PostgreSQL is restarted. Then everything is
read back from the host, as a user would: MLflow at 127.0.0.1, the objects in S3.

Marked `docker`: `make cluster-test` runs it (pyproject's addopts leave it out of `make
test`). Skipped where no Docker engine answers, failed instead when LADDER_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import free_port
from tests.pipeline.sweeps import assert_each_step_once, history, tail, trial_runs

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = str(ROOT / "docker" / "cluster.sh")
PORTS = ("MLFLOW_PORT", "S3_PORT", "S3_CONSOLE_PORT", "RAY_GCS_PORT", "RAY_DASHBOARD_PORT",
         "RAY_CLIENT_PORT")  # fmt: skip
EPOCHS = int(os.environ.get("LADDER_DOCKER_EPOCHS", "2"))
NAME = "docker-demo"
STORAGE = "s3://ray/sweeps"
SHARDS = "/shared/shards/digits"
WAIT_S = 1500  # a phase of the sweep, on a shared 2-core machine

pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]


def no_engine() -> str | None:
    """Why no Docker engine can run the stack here, or None."""
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"no Docker engine ({error})"
    if done.returncode != 0:
        return f"no Docker engine answers (`docker info`: {done.stderr.strip()[:200]})"
    compose = subprocess.run("docker compose version || docker-compose version", shell=True,
                             capture_output=True, timeout=30)  # fmt: skip
    return None if compose.returncode == 0 else "neither `docker compose` nor docker-compose"


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.env['MLFLOW_PORT']}"

    def compose(self, *args: str, timeout: int = 600, check: bool = True) -> str:
        done = subprocess.run([CLUSTER, "compose", *args], capture_output=True, text=True,
                              env=self.env, timeout=timeout, cwd=ROOT)  # fmt: skip
        if check and done.returncode != 0:
            pytest.fail(f"compose {' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")
        return done.stdout

    def head(self, *command: str, timeout: int = 600) -> str:
        return self.compose("exec", "-T", "ray-head", *command, timeout=timeout)

    def head_python(self, code: str) -> Any:
        """Run Python in the head container; the JSON it prints last."""
        return json.loads(self.head("python", "-c", code).strip().splitlines()[-1])

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def driver(self, args: list[str], log: Path) -> subprocess.Popen:
        """`docker compose exec ray-head ARGS` in the background, its output in `log`."""
        with log.open("w") as out:
            return subprocess.Popen(
                [CLUSTER, "compose", "exec", "-T", "ray-head", *args],
                stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT,
            )  # fmt: skip

    def timed(self, label: str, start: float) -> None:
        self.timings[label] = round(time.monotonic() - start, 1)
        print(f"\ncluster-test: {label}: {self.timings[label]} s", flush=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = no_engine()
    if reason:
        if os.environ.get("LADDER_REQUIRE_DOCKER") == "1":
            pytest.fail(f"LADDER_REQUIRE_DOCKER=1 but {reason}")
        pytest.skip(reason)
    logs = tmp_path_factory.mktemp("stack")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(
        COMPOSE_PROJECT_NAME=f"ladder-test-{secrets.token_hex(3)}",
        LADDER_ENV_FILE=str(logs / "stack.env"),  # fresh secrets, written by cluster.sh
        RAY_WORKERS="2", RAY_WORKER_CPUS="1", RAY_WORKER_SHM="2g", RAY_HEAD_SHM="1g",
        **{port: str(free_port()) for port in PORTS},
    )  # fmt: skip
    stack = Stack(env, logs)
    start = time.monotonic()
    build = subprocess.run([CLUSTER, "images"], env=env, cwd=ROOT, timeout=3600,
                           capture_output=True, text=True)  # fmt: skip
    print(build.stderr, flush=True)  # which images, their sizes
    assert build.returncode == 0, build.stderr[-3000:]
    stack.timed("images", start)
    start = time.monotonic()
    try:
        up = subprocess.run([CLUSTER, "up"], env=env, cwd=ROOT, timeout=1200,
                            capture_output=True, text=True)  # fmt: skip
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        stack.timed("stack up", start)
        yield stack
    finally:
        (logs / "compose.log").write_text(stack.compose("logs", "--no-color", check=False))
        start = time.monotonic()
        subprocess.run([CLUSTER, "down"], env=env, cwd=ROOT, timeout=600, capture_output=True)
        stack.timed("stack down", start)
        print(f"\ncluster-test timings (s): {json.dumps(stack.timings)}; logs in {logs}")


# ------------------------------------------------------------------ reading the sweep back

RESULTS = """
import json, os, boto3
s3 = boto3.client("s3")
keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
    Bucket="ray", Prefix="sweeps/SWEEP_NAME/") for o in page.get("Contents", [])]
out = {}
for key in keys:
    if key.endswith("/result.json"):
        body = s3.get_object(Bucket="ray", Key=key)["Body"].read().decode()
        rows = [json.loads(line) for line in body.splitlines() if line.strip()]
        if rows:
            out[rows[0]["trial_id"]] = [{k: r.get(k) for k in ("epoch", "worker_node")}
                                        for r in rows]
print(json.dumps(out))
""".replace("SWEEP_NAME", NAME)

OBJECTS = """
import json, boto3
s3 = boto3.client("s3")
print(json.dumps({bucket: [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
    Bucket=bucket) for o in page.get("Contents", [])] for bucket in ("mlflow", "ray")}))
"""

NODES = """
import json, ray
ray.init(logging_config=ray.LoggingConfig(log_level="ERROR"))
print(json.dumps({n["NodeID"]: n["NodeManagerHostname"] for n in ray.nodes() if n["Alive"]}))
"""


def tune_rows(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Each trial's Tune results (epoch, worker_node), from its result.json in S3."""
    return stack.head_python(RESULTS)


def wait_for(what: str, condition: Callable[[], Any], driver: subprocess.Popen | None,
             log: Path | None) -> Any:  # fmt: skip
    deadline = time.monotonic() + WAIT_S
    while not (found := condition()):
        if driver is not None and driver.poll() is not None:
            pytest.fail(f"the sweep ended (exit {driver.returncode}) before {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {WAIT_S} s")
        time.sleep(3)
    return found


def statuses(stack: Stack) -> dict[str, str]:
    return {trial: run.data.tags.get("ladder.status", "")
            for trial, run in trial_runs(stack.mlflow, NAME).items()}  # fmt: skip


def finish(driver: subprocess.Popen, log: Path) -> str:
    try:
        driver.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        driver.kill()
        pytest.fail(f"the sweep still runs after {WAIT_S} s:\n{tail(log)}")
    assert driver.returncode == 0, tail(log)
    return log.read_text()


# ------------------------------------------------------------------ the scenario


def test_the_stack_sweeps_through_a_lost_worker_a_head_restart_and_a_database_restart(
    stack: Stack,
):
    from mlflow import MlflowClient

    logs = stack.logs
    for service in ("ray-head", "ray-worker"):  # defect: the object store fell back to /tmp
        assert "harm performance" not in stack.compose("logs", "--no-color", service)

    start = time.monotonic()
    stack.head("ladder", "shards", "--demo", "digits", "--out", SHARDS)
    stack.timed("shards", start)

    # A driver without the token: refused at once, in one line. `ladder sweep` itself takes
    # a while to start here (torch, Ray, MLflow imports on a busy CPU): a run that fails
    # before Ray, on a missing --data, is the baseline.
    def refused(data: str, *no_token: str) -> tuple[subprocess.CompletedProcess, float]:
        start = time.monotonic()
        done = subprocess.run(
            [CLUSTER, "compose", "exec", "-T", *no_token, "ray-head", "ladder", "sweep",
             "--space", "demo", "--data", data, "--name", "no-token", "--storage", STORAGE],
            capture_output=True, text=True, env=stack.env, cwd=ROOT, timeout=300,
        )  # fmt: skip
        return done, time.monotonic() - start

    baseline, startup_s = refused("/shared/nothing-here")
    assert baseline.returncode == 2, baseline.stderr
    done, refused_s = refused(SHARDS, "-e", "RAY_AUTH_MODE=disabled", "-e", "RAY_AUTH_TOKEN=")
    stack.timings["startup to a --data error"] = round(startup_s, 1)
    stack.timings["startup to the token refusal"] = round(refused_s, 1)
    print(f"\ncluster-test: token refused in {refused_s:.1f} s (--data error: {startup_s:.1f} s)")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "ladder sweep: error: RAY_ADDRESS=ray-head:6379: the cluster wants its token; "
        "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the one its nodes use"
    )
    assert refused_s - startup_s < 10, (refused_s, startup_s)  # not Ray's 20-40 s of retries

    sweep = ["ladder", "sweep", "--space", "demo", "--data", SHARDS, "--name", NAME,
             "--storage", STORAGE, "--epochs", str(EPOCHS),
             "--max-failures", "4"]  # fmt: skip  # retries may land on the dying node
    log1, log2 = logs / "sweep.log", logs / "resume.log"
    start = time.monotonic()
    driver = stack.driver(sweep, log1)
    try:
        # 1. A worker dies after its trial's first checkpoint (epoch 1 reported with it).
        first = wait_for("a first checkpoint", lambda: {t: rows for t, rows in
                         tune_rows(stack).items() if rows}, driver, log1)  # fmt: skip
        killed_trial, rows = sorted(first.items())[0]
        hostname = stack.head_python(NODES)[rows[0]["worker_node"]]
        (victim,) = [cid for cid in stack.containers("ray-worker") if cid.startswith(hostname)]
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        stack.timed("first checkpoint; a worker killed", start)
        killed_at = time.monotonic()

        def moved() -> bool:  # the killed trial reported again, from another node
            rows = tune_rows(stack).get(killed_trial, [])
            return len(rows) > 1 and rows[-1]["worker_node"] != rows[0]["worker_node"]

        wait_for("the killed trial on the other worker", moved, driver, log1)
        stack.timed("the killed trial went on elsewhere", killed_at)
        # A replacement node: `docker kill` leaves the container stopped.
        subprocess.run(["docker", "start", victim], check=True, capture_output=True)

        # 2. Once a trial has finished and another has not: the head container restarts,
        # and the driver in it dies.
        wait_for("a finished trial", lambda: "finished" in statuses(stack).values()
                 and len(statuses(stack)) >= 2, driver, log1)  # fmt: skip
        before = statuses(stack)
        assert set(before.values()) != {"finished"} or len(before) < 4, before
        done_before = {trial for trial, status in before.items() if status == "finished"}
        restart = time.monotonic()
        stack.compose("restart", "ray-head")
        driver.wait(timeout=120)
        stack.timed("sweep until the head restart", start)
    finally:
        if driver.poll() is None:
            driver.kill()
    wait_for("two workers on the new head", lambda: len(stack.head_python(NODES)) == 3,
             None, None)  # fmt: skip
    stack.timed("head restarted, workers rejoined", restart)

    # 3. The sweep resumed from the new head; PostgreSQL restarts under it.
    start = time.monotonic()
    driver = stack.driver(["ladder", "sweep", "--resume", NAME, "--storage", STORAGE], log2)
    try:
        epochs_now = sum(len(rows) for rows in tune_rows(stack).values())
        wait_for("an epoch after the resume", lambda: sum(len(rows) for rows in
                 tune_rows(stack).values()) > epochs_now, driver, log2)  # fmt: skip
        stack.compose("restart", "postgres")
        output = finish(driver, log2)
    finally:
        if driver.poll() is None:
            driver.kill()
    stack.timed("resumed sweep, PostgreSQL restarted", start)

    # What the user sees, from the host.
    for text in (log1.read_text(), output):
        assert "http://mlflow:5000" not in text  # no container-only address printed
        assert_no_traceback_storm(text)
    client = MlflowClient(stack.mlflow)
    experiment = client.get_experiment_by_name(NAME)
    runs = client.search_runs([experiment.experiment_id])
    children = trial_runs(stack.mlflow, NAME)  # fails on two runs for one trial
    assert len(children) == 4 and len(runs) == 5, [r.data.tags for r in runs]
    (parent,) = [run for run in runs if run.info.run_id not in
                 {child.info.run_id for child in children.values()}]  # fmt: skip
    for trial, run in children.items():
        assert run.data.tags["ladder.status"] == "finished", (trial, run.data.tags)
        assert [m.step for m in history(stack.mlflow, run)] == list(range(1, EPOCHS + 1))
        assert_each_step_once(stack.mlflow, run)

    # Tune's results: each epoch trained once. A trial restored after its last epoch only
    # reports that epoch again (worker.py's report_if_silent), it does not train; an epoch
    # reported again is marked `replayed`.
    def trained_once(rows: list[dict[str, Any]]) -> bool:
        epochs = [row["epoch"] for row in rows if not row.get("replayed")]
        return epochs[:EPOCHS] == list(range(1, EPOCHS + 1)) and set(epochs[EPOCHS:]) <= {EPOCHS}

    results = tune_rows(stack)
    assert trained_once(results[killed_trial]), results[killed_trial]  # on from epoch 2
    for trial in done_before:  # finished before the head restart: not trained again
        assert trained_once(results[trial]), results[trial]

    objects = stack.head_python(OBJECTS)
    parent_keys = [key for key in objects["mlflow"] if parent.info.run_id in key]
    names = {key.rsplit("/", 1)[-1] for key in parent_keys}
    assert {"leaderboard.json", "accuracy_vs_macs.png", "imagenet_challenge.png"} <= names
    checkpoints = {key.split("/checkpoint_")[0] for key in objects["ray"] if "/checkpoint_" in key}
    assert len(checkpoints) == 4, checkpoints  # every trial checkpointed, in S3
    print(f"\ncluster-test: MLflow {stack.mlflow}/#/experiments/{experiment.experiment_id}")


def assert_no_traceback_storm(text: str) -> None:
    """A lost node is not a wall of errors: no Ray Train autoscaling coordinator left on
    the dead node (its "... doesn't exist any more" on every request); each trial failure
    one line (its type varies with where the trial's actors were); Ray Train's "Graceful
    shutdown of backend failed" one line; at most one traceback, not counting a Ray worker
    process's SystemExit on the SIGTERM that ends it (Python prints it as "Exception
    ignored" when it lands in a finaliser, at some trials' ends)."""
    lines = text.splitlines()
    failures = [line for line in lines if "Trial task failed" in line]
    assert len(failures) <= 2, failures
    for word in ("exist any more", "Unschedulable"):
        assert [line for line in lines if word in line] == [
            line for line in failures if word in line
        ]
    shutdowns = [line for line in lines if "Graceful shutdown of backend failed" in line]
    assert all("Error: " in line for line in shutdowns), shutdowns  # the cause, inline
    tracebacks = text.count("Traceback (most recent call last)")
    assert tracebacks - text.count(", in sigterm_handler") <= 1, text
