"""Shared MLflow fixtures: sqlite stores, a real `mlflow server` on loopback, a logged sweep.

A sweep is logged through `SweepTracker` exactly as the Ray Tune callback drives it
(trial started, one result per epoch, trial ended), with numbers chosen so that the
leaderboard's order and Pareto front are known by hand.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipeline.tracking.sweep_tracker import SweepTracker

if TYPE_CHECKING:
    from mlflow import MlflowClient


@dataclass(frozen=True)
class PlannedTrial:
    trial_id: str
    name: str
    model: dict[str, Any]
    params: float
    macs: float
    acc1: list[float]  # per epoch
    acc5: list[float]
    status: str = "finished"
    recipe: dict[str, Any] = field(default_factory=lambda: {"epochs": 2, "lr": 0.1, "seed": 0})
    measured: dict[str, float] = field(default_factory=dict)  # model/... after training

    @property
    def config(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "model": self.model}


# Best top-1: efficientnet 0.80 > resnet18 0.72 > vgg16 0.70 > lenet5 0.61.
# Pareto front in (MACs, top-1): lenet5 (cheapest) and efficientnet (dominates the rest).
TRIALS = [
    PlannedTrial("t_00000", "lenet5_r32", {"arch": "lenet5", "resolution": 32},
                 61_706, 416_520, [0.42, 0.61], [0.80, 0.93]),
    PlannedTrial("t_00001", "resnet18_r32",
                 {"arch": "resnet18", "resolution": 32, "width": 1.0, "depth": 1.0},
                 11.2e6, 37.0e6, [0.55, 0.72], [0.90, 0.97]),
    PlannedTrial("t_00002", "efficientnet_phi1",
                 {"arch": "efficientnet", "resolution": 37, "width": 1.1, "depth": 1.2,
                  "alpha": 1.2, "beta": 1.1, "gamma": 1.15, "phi": 1},
                 4.6e6, 12.0e6, [0.80, 0.78], [0.98, 0.99]),
    PlannedTrial("t_00003", "vgg16_r32", {"arch": "vgg16", "resolution": 32},
                 134e6, 313e6, [0.50, 0.70], [0.88, 0.96], status="error"),
]  # fmt: skip

# What each trial measured after training. EfficientNet's depthwise convolutions make it
# slower than ResNet-18 for a third of the MACs, as on real CPUs and GPUs alike.
MEASURED = {
    "lenet5_r32": (20_000.0, 0.2, 150.0),  # inference images/s, latency ms, peak MB
    "resnet18_r32": (3_000.0, 2.0, 900.0),
    "efficientnet_phi1": (1_500.0, 4.0, 1_100.0),
    "vgg16_r32": (300.0, 9.0, 2_500.0),
}
MEASURED_TRIALS = [
    replace(trial, measured={"model/activations": trial.macs / 10,
                             "model/infer_images_per_sec": MEASURED[trial.name][0],
                             "model/latency_ms": MEASURED[trial.name][1],
                             "model/peak_memory_mb": MEASURED[trial.name][2]})
    for trial in TRIALS
]  # fmt: skip


def with_seed(trial: PlannedTrial, seed: int, top1: float, **changes: Any) -> PlannedTrial:
    """`trial` as one seed of a `--seeds` sweep: named and configured so, best top-1 `top1`."""
    named = {"trial_id": f"{trial.trial_id}_seed{seed}", "name": f"{trial.name}_seed{seed}"}
    recipe = {**trial.recipe, "seed": seed}
    return replace(trial, **named, acc1=[top1 - 0.1, top1], recipe=recipe, **changes)


# Points by mean top-1 over their seeds (std: the sample std, n - 1):
#   efficientnet_phi1  0.80         n=1  (one seed: no std), the costliest here (400M MACs)
#   resnet18_r32       0.63 ± 0.028 n=2  disjoint from 0.80: no tie
#   lenet5_r32         0.62 ± 0.028 n=2  overlaps resnet18's interval: tie
#   vgg16_r32          0.62 ± 0.057 n=2  overlaps lenet5's: tie; its seed 1 errored late
# Pareto front by MACs on the means: lenet5, resnet18, efficientnet. vgg16 (313M MACs) is
# off it, beaten by resnet18's mean, but no cheaper point's interval is all above its own:
# a Pareto tie.
SEEDED_TRIALS = [
    with_seed(TRIALS[2], 0, 0.80, macs=400e6),
    with_seed(TRIALS[1], 0, 0.61), with_seed(TRIALS[1], 1, 0.65),
    with_seed(TRIALS[0], 0, 0.60), with_seed(TRIALS[0], 1, 0.64),
    with_seed(TRIALS[3], 0, 0.58, status="finished"), with_seed(TRIALS[3], 1, 0.66),
]  # fmt: skip

EPOCH_TIME = 2.5


def log_sweep(
    uri: str,
    sweep: str = "sweep-a",
    trials: list[PlannedTrial] = TRIALS,
    experiment: str | None = None,
    epochs: int | None = None,
    space: str = "demo",
) -> SweepTracker:
    """Log `trials` (their first `epochs` epochs, default all) as the Ray callback would."""
    tracker = SweepTracker(uri, experiment, sweep, space, {"epochs": 2, "alphas": (1.0, 1.2)})
    tracker.start()
    for trial in trials:
        tracker.trial_started(trial.trial_id, trial.name, trial.config)
        done = list(zip(trial.acc1, trial.acc5, strict=True))[:epochs]
        for epoch, (acc1, acc5) in enumerate(done, start=1):
            result = {
                "train/loss": 2.0 / epoch,
                "val/loss": 2.2 / epoch,
                "val/acc1": acc1,
                "val/acc5": acc5,
                "lr": 0.1 / epoch,
                "train/images_per_sec": 800.0,
                "train/epoch_time": EPOCH_TIME,
                "model/params": trial.params,
                "model/macs": trial.macs,
                **(trial.measured if epoch == len(trial.acc1) else {}),  # the last report's
                "training_iteration": epoch,  # Ray's own keys: ignored
                "trial_id": trial.trial_id,
            }
            tracker.epoch_result(trial.trial_id, epoch, result)
        if epochs is None:
            tracker.trial_ended(trial.trial_id, trial.status)
    return tracker


@pytest.fixture(scope="session")
def empty_store_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty sqlite store made once: copying it saves MLflow's migrations."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("template")
    path = folder / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store_file: Path) -> str:
    """A fresh sqlite store in this test's folder, which is also the working directory
    (MLflow puts a sqlite store's artifacts under ./mlruns); MLFLOW_TRACKING_URI names it."""
    shutil.copy(empty_store_file, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(command: list[str], url: str, log: Path, env: dict[str, str]) -> Iterator[None]:
    """Run a server in its own process group until `url`/health answers; stop the group after.

    The group matters: `mlflow ui` and `mlflow server` fork uvicorn workers.
    """
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 240  # MLflow starts slowly on a loaded 2-core box
        while True:
            if process.poll() is not None:
                pytest.fail(f"{command[:4]} exited {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def server_env() -> dict[str, str]:
    """The environment for a test server: no background job runner (GenAI features)."""
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    return {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class MlflowProcess:
    """A real `mlflow server` on loopback over one sqlite file: killed (SIGKILL) and
    started again on the same port, as a server that crashes and comes back."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination", str(self.folder / "artifacts"),
            "--host", "127.0.0.1", "--port", self.url.rpartition(":")[2], "--workers", "1",
        ]  # fmt: skip
        with (self.folder / "server.log").open("a") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, env=server_env(), start_new_session=True
            )
        wait_until(self.healthy, 240, f"{self.url} did not come up")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        wait_until(lambda: not self.healthy(), 30, "the killed server still answers")


class CountingClient:
    """A real `MlflowClient` whose every method call is counted by name (its attributes,
    such as `tracking_uri`, read through)."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if not callable(method):
            return method

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(*args, **kwargs)

        return counted


def wait_until(condition: Callable[[], Any], timeout_s: float, message: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.2)
    return found


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on loopback over a sqlite store, proxying artifacts."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with serving(command, url, folder / "server.log", server_env()):
        yield url


@pytest.fixture(scope="session")
def ladder_app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server --app-name ladder` (`ladder server`'s app, with its runs route) on
    loopback over a sqlite store; `ladder server` itself insists on PostgreSQL."""
    folder = tmp_path_factory.mktemp("ladder_app_server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--app-name", "ladder",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with serving(command, url, folder / "server.log", server_env()):
        yield url


@pytest.fixture
def trials() -> list[PlannedTrial]:
    return TRIALS


@pytest.fixture
def sweep_logger():
    """`log_sweep(uri, sweep=..., trials=..., experiment=..., epochs=..., space=...)`."""
    return log_sweep


# ------------------------------------------------------------------ Ray (test_sweep.py)

# Train's controller collects worker reports this often (default 2 s): tests wait on
# reports, and a worker killed soon after one must not take it along unregistered.
RAY_TEST_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}


def private_ray_tmpdir() -> str:
    """A RAY_TMPDIR of this test's own, so no other Ray on the machine joins or is joined.

    Short and under /tmp: Ray's socket paths inside it must stay under 108 bytes.
    """
    return tempfile.mkdtemp(prefix="ray", dir="/tmp")


def ray_processes(ray_tmpdir: str) -> list[int]:
    """Every live process of the Ray living in `ray_tmpdir`: all of them inherit RAY_TMPDIR.

    Matching the environment catches what a process group would miss: raylets start their
    workers in groups of their own.
    """
    needle = f"RAY_TMPDIR={ray_tmpdir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in environment and state != "Z":
            found.append(int(entry.name))
    return found


def stop_ray_processes(ray_tmpdir: str, timeout_s: float = 30) -> None:
    """SIGKILL every process of that Ray and wait until they are gone."""
    deadline = time.monotonic() + timeout_s
    while pids := ray_processes(ray_tmpdir):
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            pytest.fail(f"Ray processes {pids} of {ray_tmpdir} survived SIGKILL")
        time.sleep(0.2)


@dataclass(frozen=True)
class RayCluster:
    address: str  # what RAY_ADDRESS takes
    node_ids: frozenset[str]
    ray_tmpdir: str  # every process of the cluster has RAY_TMPDIR set to it


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[RayCluster]:
    """A local Ray cluster of two nodes, head + worker, with one CPU each: two 1-CPU trials
    run at once only one per node, and a 2-worker trial spans both. It lives in a private
    RAY_TMPDIR, and every process of it is gone afterwards."""
    from ray.cluster_utils import Cluster

    ray_tmpdir = private_ray_tmpdir()
    node = {"num_cpus": 1, "object_store_memory": 100 * 1024**2}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", ray_tmpdir)  # the nodes' processes inherit the environment
        for key, value in RAY_TEST_ENV.items():
            env.setenv(key, value)
        # The dashboard serves the State API through which Ray Train frees the placement
        # group of a trial that Tune stops early (`pipeline.sweep.ray_cluster.state_api_problem`);
        # named to the cluster's processes, as other Rays may run on this machine.
        port = free_port()
        env.setenv("RAY_API_SERVER_ADDRESS", f"http://127.0.0.1:{port}")
        head = {**node, "include_dashboard": True, "dashboard_port": port}
        cluster = Cluster(initialize_head=True, head_node_args=head)
        try:
            worker = cluster.add_node(**node)
            node_ids = frozenset({cluster.head_node.node_id, worker.node_id})
            yield RayCluster(cluster.address, node_ids, ray_tmpdir)
        finally:
            cluster.shutdown()
            stop_ray_processes(ray_tmpdir)
            shutil.rmtree(ray_tmpdir, ignore_errors=True)
