"""`kill -TERM` of `ladder ui` or `ladder server` ends MLflow and every helper it started,
and `ladder ui` runs only what a look at runs needs (no job runner, no huey consumers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pipeline.conftest import free_port, wait_until
from tests.pipeline.test_cluster import PG_BIN, postgres  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # each test starts an MLflow server


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat[1]) == pid and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """`pid` and every live process below it."""
    pids = [pid]
    for child in children_of(pid):
        pids += tree(child)
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def serve_then_terminate(command: list[str], env: dict[str, str], log: Path) -> list[str]:
    """Start `command`, wait until it serves, SIGTERM its pid alone; the command lines of
    the processes it had. Fails unless it exits 0 and every one of them is gone."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen([*command, "--port", str(port)], stdout=out,
                                   stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        wait_until(lambda: healthy(url) or process.poll() is not None, 240, log.read_text())
        assert process.poll() is None, log.read_text()
        time.sleep(3)  # helpers MLflow starts after the web server
        pids = tree(process.pid)
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes().decode() for pid in pids]
        os.kill(process.pid, signal.SIGTERM)  # `kill -TERM`: the one process, not its group
        assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
        assert not [pid for pid in pids if alive(pid)], commands
        assert not healthy(url)
        return commands
    finally:
        for pid in tree(process.pid) if process.poll() is None else []:
            os.kill(pid, signal.SIGKILL)


def test_ladder_ui_runs_three_processes_and_sigterm_ends_them(store, tmp_path):
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    env.pop("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", None)
    command = [sys.executable, "-m", "pipeline", "ui"]
    commands = serve_then_terminate(command, env, tmp_path / "ui.log")
    # the supervisor, MLflow's CLI and its uvicorn: no job runner, no huey consumer
    assert len(commands) == 3, commands
    assert not [line for line in commands if "huey" in line or "job" in line]


@pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="needs PostgreSQL 15")
def test_ladder_server_passes_sigterm_to_mlflow_and_its_helpers(postgres, tmp_path):  # noqa: F811
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": postgres.uri()}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "pipeline", "server", "--workers", "1",
               "--artifacts-destination", str(tmp_path / "artifacts")]  # fmt: skip
    commands = serve_then_terminate(command, env, tmp_path / "server.log")
    assert any("huey_consumer" in line for line in commands), commands  # MLflow's helpers
