"""A team deployment on loopback: `ladder server` on PostgreSQL, a multi-process Ray cluster.

Everything docker/compose.yaml runs, as real processes on 127.0.0.1: PostgreSQL 15 in a
data folder of the test's own (as the `postgres` user when the tests run as root, which
PostgreSQL refuses), `ladder server` in front of it, and a Ray cluster of a CPU-less head
and two 1-CPU worker nodes, each a `ray start --block` process tree, token authentication
on. Sweeps run as `ladder sweep` subprocesses attached through RAY_ADDRESS and tracking
over HTTP, as a user runs them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from pipeline.cli import main
from tests.pipeline.conftest import (
    RAY_TEST_ENV,
    free_port,
    private_ray_tmpdir,
    server_env,
    serving,
    stop_ray_processes,
)
from tests.pipeline.sweeps import (
    LADDER,
    finish,
    history,
    lenet5_sweep,
    sweeping,
    tail,
    training_workers,
    trial_runs,
    tune_results,
    wait_for,
)
from tests.pipeline.test_run_records import check_route_equals_search

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RAY = str(Path(sys.executable).with_name("ray"))
PASSWORD = "pw-" + secrets.token_hex(8)
RAY_TOKEN = secrets.token_hex(32)  # the form `ray get-auth-token --generate` makes
# The head declares a silent node dead after ~3 s rather than ~30 s.
FAST_NODE_DEATH = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}
NODE_START_TIMEOUT_S = 180

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason="needs PostgreSQL 15 (apt-get install postgresql-15)"
)


# ------------------------------------------------------------------ PostgreSQL


@dataclass(frozen=True)
class Postgres:
    port: int

    def uri(self, user: str = "mlflow", password: str = PASSWORD, database: str = "mlflow") -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"


def as_postgres(*command: str | Path) -> list[str]:
    """The command run as the `postgres` user when we are root: PostgreSQL refuses root."""
    argv = [str(part) for part in command]
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def run_as_postgres(*command: str | Path) -> None:
    done = subprocess.run(as_postgres(*command), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """PostgreSQL 15 on a free loopback port, with a password user `mlflow` owning a
    database `mlflow`; stopped and deleted afterwards. No system service is involved."""
    folder = Path(tempfile.mkdtemp(prefix="ladder-pg-"))  # pytest's tmp is root-only
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
    try:
        run_as_postgres(PG_BIN / "initdb", "-D", data, "-U", "postgres", "--no-sync",
                        "--auth-local=trust", "--auth-host=scram-sha-256")  # fmt: skip
        run_as_postgres(PG_BIN / "pg_ctl", "-D", data, "-l", folder / "postgres.log", "-w",
                        "-o", f"{options} -c fsync=off", "start")  # fmt: skip
        run_as_postgres(PG_BIN / "psql", "-h", folder, "-p", str(port), "-U", "postgres",
                        "-v", "ON_ERROR_STOP=1",
                        "-c", f"CREATE ROLE mlflow LOGIN PASSWORD '{PASSWORD}'",
                        "-c", "CREATE DATABASE mlflow OWNER mlflow")  # fmt: skip
        yield Postgres(port)
    finally:  # a server that never started has nothing to stop: pg_ctl just says so
        stop = as_postgres(PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "stop")
        subprocess.run(stop, capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class TeamServer:
    url: str
    artifacts: Path  # its --artifacts-destination
    log: Path


@pytest.fixture(scope="module")
def team_server(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TeamServer]:
    """`ladder server` over `postgres`, the URI from MLFLOW_BACKEND_STORE_URI as in compose."""
    folder = tmp_path_factory.mktemp("team_server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [LADDER, "server", "--artifacts-destination", str(folder / "artifacts"),
               "--port", str(port), "--workers", "1"]  # fmt: skip
    env = {**server_env(), "MLFLOW_BACKEND_STORE_URI": postgres.uri()}
    with serving(command, url, folder / "server.log", env):
        yield TeamServer(url, folder / "artifacts", folder / "server.log")


# ------------------------------------------------------------------ ladder server


def bad_databases(postgres: Postgres) -> dict[str, tuple[list[str], str]]:
    """case -> (ladder server flags, what its one line must say)."""
    refused = f"postgresql://mlflow:{PASSWORD}@127.0.0.1:{free_port()}/mlflow"  # no one there
    auth = "authentication failed (password authentication failed for user"
    return {
        "wrong password": (["--backend-store-uri", postgres.uri(password="nope")],
                           f'{auth} "mlflow")'),
        "unknown user": (["--backend-store-uri", postgres.uri(user="nobody")],
                         f'{auth} "nobody")'),
        "no such database": (["--backend-store-uri", postgres.uri(database="nosuch")],
                             'database "nosuch" does not exist; create it'),
        "nothing listening": (["--backend-store-uri", refused],
                              "cannot connect (Connection refused)"),
        "not postgresql": (["--backend-store-uri", "sqlite:///mlflow.db"],
                           "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"),
        "no uri": ([], "--backend-store-uri (or MLFLOW_BACKEND_STORE_URI) is required"),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    ["wrong password", "unknown user", "no such database", "nothing listening", "not postgresql",
     "no uri"],
)  # fmt: skip
def test_a_bad_database_is_one_line_before_mlflow_starts(
    case, postgres: Postgres, monkeypatch, capsys
):
    flags, expected = bad_databases(postgres)[case]
    monkeypatch.delenv("MLFLOW_BACKEND_STORE_URI", raising=False)

    assert main(["server", *flags, "--port", str(free_port())]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ladder server: error:"), lines
    assert expected in lines[0], lines[0]
    assert PASSWORD not in lines[0] and "nope" not in lines[0]  # the password shows as ***


@pytest.mark.slow
def test_the_server_keeps_runs_in_postgresql_and_artifacts_in_its_destination(
    team_server: TeamServer, postgres: Postgres, tmp_path
):
    from mlflow import MlflowClient

    client = MlflowClient(team_server.url)
    experiment_id = client.create_experiment("server-check")
    run = client.create_run(experiment_id, run_name="a-run")
    (tmp_path / "note.txt").write_text("hello")
    client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))

    with psycopg2.connect(postgres.uri()) as db, db.cursor() as cursor:
        cursor.execute("SELECT name FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cursor.fetchone() == ("a-run",)
    (stored,) = team_server.artifacts.rglob("note.txt")  # proxied: the client wrote no file
    assert run.info.run_id in stored.parts and stored.read_text() == "hello"
    log = team_server.log.read_text()
    assert f"export MLFLOW_TRACKING_URI={team_server.url}\n" in log
    assert PASSWORD not in log


@pytest.mark.slow
def test_the_servers_runs_route_answers_as_mlflows_search_on_postgresql(team_server):
    """`ladder server` serves its runs route (MLflow found the app by its entry point), and
    PostgreSQL's answers (its types, its NaN) match MLflow's search as sqlite's do."""
    check_route_equals_search(team_server.url)


# ------------------------------------------------------------------ a multi-process Ray


def process_tree(root: int) -> list[int]:
    """`root` and every process below it, by parent id, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except OSError:  # gone meanwhile
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


@dataclass
class RayNode:
    """One `ray start --block`: its raylet, agents and workers are its process tree, so
    SIGKILLing the tree is losing the machine."""

    process: subprocess.Popen
    log: Path

    def wait_started(self) -> None:
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        while "Ray runtime started." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the whole tree, frozen first (SIGSTOP) so that no child escapes it."""
        if self.process.poll() is not None:  # gone already: its pid may be another's now
            return
        frozen: set[int] = set()
        while new := set(process_tree(self.process.pid)) - frozen:
            signal_all(new, signal.SIGSTOP)
            frozen |= new
        signal_all(frozen, signal.SIGKILL)
        self.process.wait()


def signal_all(pids: set[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def start_node(flags: list[str], env: dict[str, str], log: Path) -> RayNode:
    command = [RAY, "start", "--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats",
               "--object-store-memory", str(100 * 1024**2),
               "--dashboard-agent-listen-port", str(free_port()),  # not 52365 for all
               "--min-worker-port", "0", "--max-worker-port", "0", *flags]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return RayNode(process, log)


@dataclass(frozen=True)
class LoopbackCluster:
    address: str
    driver_env: dict[str, str]  # RAY_ADDRESS, its RAY_TMPDIR, the token
    workers: list[RayNode]


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    """A head with no CPU (it schedules, it does not train) and two 1-CPU worker nodes.

    Every process lives in a RAY_TMPDIR of its own, so no other Ray on the machine joins
    it or is stopped with it; `ray stop` would stop them all.
    """
    logs = tmp_path_factory.mktemp("ray_nodes")
    ray_tmpdir, port = private_ray_tmpdir(), free_port()
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(RAY_TEST_ENV, **FAST_NODE_DEATH, RAY_TMPDIR=ray_tmpdir)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=RAY_TOKEN)
    nodes: list[RayNode] = []
    try:
        nodes.append(start_node(["--head", "--port", str(port), "--num-cpus", "0",
                                 "--include-dashboard", "false",
                                 "--dashboard-port", str(free_port())],
                                env, logs / "head.log"))  # fmt: skip
        nodes[-1].wait_started()
        address = f"127.0.0.1:{port}"
        # One log monitor, the head's, reads the one disk all nodes share here.
        joining = ["--address", address, "--num-cpus", "1", "--include-log-monitor", "false"]
        for i in (1, 2):  # one at a time: a busy GCS times joining nodes out
            nodes.append(start_node(joining, env, logs / f"worker{i}.log"))
            nodes[-1].wait_started()
        yield LoopbackCluster(address, {**env, "RAY_ADDRESS": address}, nodes[1:])
    finally:
        # Whole trees first: Ray's agents retitle themselves over their environment, so
        # matching RAY_TMPDIR misses them. Then whatever else ran on the cluster.
        for node in nodes:
            node.kill()
        stop_ray_processes(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)


def node_of(pid: int, nodes: list[RayNode]) -> RayNode:
    (node,) = [node for node in nodes if pid in process_tree(node.process.pid)]
    return node


# ------------------------------------------------------------------ sweeps on the cluster


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_a_sweep_survives_losing_the_node_that_trains_it(
    loopback_cluster: LoopbackCluster, team_server: TeamServer, digits_shards, tmp_path
):
    """The head has no CPU, so the trial trains on one of the two worker nodes: once its
    epoch 1 is checkpointed, that whole node dies (raylet, agents, workers), and the trial
    goes on from the checkpoint on the other one."""
    storage, log, name = tmp_path / "sweeps", tmp_path / "sweep.log", "cluster-sweep"
    env = {**loopback_cluster.driver_env, "MLFLOW_TRACKING_URI": team_server.url}
    alive = [node for node in loopback_cluster.workers if node.process.poll() is None]
    assert len(alive) == 2, "a worker node is gone already"

    def checkpointed() -> bool:  # epoch 1 logged: its report, so its checkpoint, registered
        return any(
            history(team_server.url, run) for run in trial_runs(team_server.url, name).values()
        )

    with sweeping(lenet5_sweep(1, 5, digits_shards, name, storage), env, log) as driver:
        wait_for(checkpointed, driver, log)
        (worker,) = training_workers(env["RAY_TMPDIR"])
        killed = node_of(worker, alive)
        killed.kill()
        output = finish(driver, log)

    # Local --storage on a 3-node cluster: one warning (here every node shares the disk).
    assert output.count("warning: --storage") == 1
    (rows,) = tune_results(storage / name).values()
    # On from a checkpoint, not epoch 1. Tune's own log of the trial may start over with
    # the restart (it restores result.json from the storage copy, which can predate epoch
    # 1's row); MLflow's history below is the sweep's record, and holds every epoch once.
    epochs = [row["epoch"] for row in rows]
    assert epochs[-4:] == [2, 3, 4, 5] and epochs.count(1) <= 1, epochs
    # finished by another actor while that node stayed dead: on the other node (the head
    # has no CPU)
    assert rows[-1]["pid"] != worker and killed.process.poll() is not None
    (run,) = trial_runs(team_server.url, name).values()
    assert run.data.tags["ladder.status"] == "finished"
    assert [metric.step for metric in history(team_server.url, run)] == [1, 2, 3, 4, 5]

    # What the team reads back from the server: the leaderboard, the charts, the artifacts.
    read_env = {**server_env(), "MLFLOW_TRACKING_URI": team_server.url}
    board = subprocess.run(
        [LADDER, "leaderboard", "--experiment", name, "--format", "json"],
        capture_output=True, text=True, env=read_env, timeout=300, check=True,
    )  # fmt: skip
    (row,) = json.loads(board.stdout)
    assert row["arch"] == "lenet5" and row["status"] == "finished" and row["epochs"] == 5
    assert row["top1"] > 0.3 and row["run_id"] == run.info.run_id
    charts = tmp_path / "charts"
    subprocess.run(
        [LADDER, "chart", "--experiment", name, "--out", str(charts)],
        capture_output=True, text=True, env=read_env, timeout=300, check=True,
    )  # fmt: skip
    assert sorted(path.name for path in charts.iterdir()) == [
        "accuracy_vs_macs.html", "accuracy_vs_macs.png",
        "accuracy_vs_throughput.html", "accuracy_vs_throughput.png",
        "imagenet_challenge.html", "imagenet_challenge.png",
    ]  # fmt: skip
    stored = {path.name for path in team_server.artifacts.rglob("*") if path.is_file()}
    assert {"leaderboard.json", "accuracy_vs_macs.png", "imagenet_challenge.html"} <= stored


@pytest.mark.slow
@pytest.mark.scenario  # a sweep on the cluster, half a minute: `make test-scenarios`, CI
def test_a_node_without_the_shards_fails_its_trial_naming_it(
    loopback_cluster: LoopbackCluster, team_server: TeamServer, digits_shards, tmp_path
):
    """The driver sees the shards; the node that trains does not (no shared storage)."""
    data, log = tmp_path / "shards", tmp_path / "sweep.log"
    shutil.copytree(digits_shards, data)
    env = {**loopback_cluster.driver_env, "MLFLOW_TRACKING_URI": team_server.url}
    args = [*lenet5_sweep(1, 1, data, "no-shards", tmp_path / "sweeps"), "--max-failures", "0"]

    with sweeping(args, env, log) as driver:
        # the driver reads the shards' manifest for its checks and its price, both printed
        # before any trial starts: the shards go after that, before any node reads them
        wait_for(lambda: "wall time about" in log.read_text(), driver, log)
        shutil.rmtree(data)
        returncode = driver.wait(timeout=300)

    assert returncode == 1, tail(log)
    output = log.read_text()
    message = f"has no shards at --data {data}: put them on storage every node mounts"
    (summary,) = [line for line in output.splitlines() if line.startswith("ladder sweep: trial")]
    assert summary.startswith("ladder sweep: trial lenet5_r32 failed: RuntimeError: node ")
    assert message in summary  # one line, under Ray's tracebacks
    assert "1 trial(s) did not finish: `ladder sweep --resume no-shards`" in output
    (run,) = trial_runs(team_server.url, "no-shards").values()
    assert run.data.tags["ladder.status"] == "error"


@pytest.mark.slow
def test_a_driver_without_the_cluster_token_is_one_line(
    loopback_cluster: LoopbackCluster, team_server: TeamServer, digits_shards, tmp_path
):
    env = {**loopback_cluster.driver_env, "MLFLOW_TRACKING_URI": team_server.url}
    del env["RAY_AUTH_TOKEN"], env["RAY_AUTH_MODE"]
    env["RAY_gcs_server_port_wait_time_s"] = "2"  # Ray retries ~20 s before it gives up
    args = lenet5_sweep(1, 1, digits_shards, "no-token", tmp_path / "sweeps")
    done = subprocess.run([LADDER, "sweep", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"ladder sweep: error: RAY_ADDRESS={loopback_cluster.address}: the cluster wants its "
        "token; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the one its nodes use"
    )
