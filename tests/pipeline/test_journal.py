"""The tracking journal against a real `mlflow server`, killed and restarted: outages cost
nothing, nothing is sent twice, and a sweep that ends during one is finished by `ladder sync`.

Records are written as the Tune callback writes them (`pipeline.tracking.sweep_tracker`), without
Ray; test_sweep.py runs a real sweep through an outage.
"""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from mlflow import MlflowClient

from pipeline.tracking.sweep_tracker import journal_folder
from tests.pipeline.conftest import TRIALS, MlflowProcess, wait_until
from tests.pipeline.journals import EPOCHS, assert_complete, plan_for, sending, write_trial

# each test starts or restarts an MLflow server and waits out an outage
pytestmark = [pytest.mark.slow, pytest.mark.scenario]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    mlflow = MlflowProcess(tmp_path_factory.mktemp("journal_server"))
    mlflow.start()
    yield mlflow
    mlflow.kill()


@pytest.fixture
def up(server: MlflowProcess) -> MlflowProcess:
    """The module's server, running (an earlier test may have left it down)."""
    if not server.healthy():
        server.start()
    return server


def test_an_outage_of_seconds_costs_nothing(up, tmp_path):
    plan = plan_for("seconds", up.url, tmp_path)
    tracking, lines = sending(plan)
    tracking.begin()
    for trial in TRIALS:
        write_trial(tracking.journal, trial, range(1, 2))
    wait_until(lambda: not tracking.journal.waiting, 60, "the first epochs were not sent")

    up.kill()
    for trial in TRIALS:
        write_trial(tracking.journal, trial, range(2, EPOCHS + 1))
    wait_until(lambda: "unreachable" in lines.getvalue(), 30, "no line about the outage")
    up.start()
    wait_until(lambda: "back" in lines.getvalue(), 60, "no line about the server's return")

    first, back = lines.getvalue().splitlines()
    journal = journal_folder(plan) / "journal.jsonl"
    assert re.fullmatch(
        rf"ladder: tracking server unreachable; \d+ records waiting in {journal} "
        r"\(runs/log-batch: Connection refused\)",
        first,
    )  # the route and the reason, not the server's address (a container's is no use outside)
    assert back == f"ladder: tracking server is back; sent {2 * len(TRIALS)} records"
    assert tracking.finish(grace_s=120)
    assert len(lines.getvalue().splitlines()) == 2
    assert_complete(up.url, "seconds")


def mlflow_retry_budget_s(url: str) -> float:
    """How long one MLflow request to `url` (down) blocks under this process's settings."""
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - whatever MLflow raises after its retries
        MlflowClient(url).search_experiments()
    return time.monotonic() - started


def test_an_outage_longer_than_mlflows_retry_budget(up, tmp_path, monkeypatch):
    """MLflow retrying on its own (here 2 retries, ~3 s) would block each write for its
    budget and then raise; the journal absorbs the whole outage while trials finish."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    plan = plan_for("long", up.url, tmp_path)
    tracking, lines = sending(plan)
    tracking.begin()
    wait_until(lambda: not tracking.journal.waiting, 60, "the sweep's start was not sent")

    up.kill()
    outage_started = time.monotonic()
    budget = mlflow_retry_budget_s(up.url)
    for trial in TRIALS:  # trials keep finishing; no write waits on the network
        started = time.monotonic()
        write_trial(tracking.journal, trial, range(1, EPOCHS + 1))
        assert time.monotonic() - started < 1.0
    time.sleep(max(0.0, 3 * budget - (time.monotonic() - outage_started)))
    assert time.monotonic() - outage_started > 3 * budget > 0
    up.start()

    assert tracking.finish(grace_s=120)
    assert "tracking server is back" in lines.getvalue()
    assert_complete(up.url, "long")


def test_a_sweep_ending_in_an_outage_is_finished_by_ladder_sync(up, tmp_path):
    plan = plan_for("after", up.url, tmp_path)
    plan.save()
    tracking, lines = sending(plan)
    tracking.begin()
    wait_until(lambda: not tracking.journal.waiting, 60, "the sweep's start was not sent")
    up.kill()
    for trial in TRIALS:
        write_trial(tracking.journal, trial, range(1, EPOCHS + 1))
    waiting = len(TRIALS) * (EPOCHS + 2) + 1  # started, epochs, ended; the sweep's end

    assert not tracking.finish(grace_s=1)
    assert lines.getvalue().splitlines()[-1] == (
        f"ladder: {waiting} tracking records not sent yet; `ladder sync after` sends them"
    )

    def sync() -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pipeline", "sync", "after", "--storage", str(tmp_path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    still_down = sync()
    assert still_down.returncode == 1
    assert f"{waiting} records still wait" in still_down.stdout
    up.start()
    done = sync()
    assert done.returncode == 0, done.stderr
    assert f"sweep after: sent {waiting} records" in done.stdout
    assert "efficientnet_phi1" in done.stdout  # the leaderboard
    assert_complete(up.url, "after")
    assert sync().stdout.startswith("ladder sync: sweep after: nothing waits")


class FailingProxy(ThreadingHTTPServer):
    """A loopback HTTP proxy to an MLflow server that answers 500 while `failing` is set:
    a server whose database is away while its web front still answers."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream = upstream.removeprefix("http://")
        self.failing = threading.Event()
        self.refused = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class ProxyHandler(BaseHTTPRequestHandler):
    server: FailingProxy

    def log_message(self, *args: Any) -> None:
        pass

    def relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.failing.is_set():
            self.server.refused += 1
            self.answer(500, b"", "text/plain")
            return
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=60)
        headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
        upstream.request(self.command, self.path, body, headers)
        reply = upstream.getresponse()
        self.answer(reply.status, reply.read(), reply.getheader("Content-Type", "text/plain"))
        upstream.close()

    def answer(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = relay


def test_a_server_answering_500_for_a_while_costs_nothing(up, tmp_path):
    proxy = FailingProxy(up.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        tracking, lines = sending(plan_for("errors", proxy.url, tmp_path))
        tracking.begin()
        for trial in TRIALS:
            write_trial(tracking.journal, trial, range(1, 2))
        wait_until(lambda: not tracking.journal.waiting, 60, "the first epochs were not sent")
        proxy.failing.set()
        for trial in TRIALS:
            write_trial(tracking.journal, trial, range(2, EPOCHS + 1))
        wait_until(lambda: "unreachable" in lines.getvalue(), 30, "no line about the errors")
        wait_until(lambda: proxy.refused >= 2, 30, "the sender did not try again")
        proxy.failing.clear()
        assert tracking.finish(grace_s=60)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert f"is back; sent {2 * len(TRIALS) + 1} records" in lines.getvalue()
    assert_complete(up.url, "errors")


KILLED_WRITER = """
import os, signal, sys, time
from tests.pipeline.conftest import TRIALS
from tests.pipeline.journals import EPOCHS, plan_for, write_trial
from pipeline.tracking.sweep_journal import SweepSending
from pathlib import Path

tracking = SweepSending(plan_for("killed", sys.argv[1], Path(sys.argv[2])))
tracking.begin()
for trial in TRIALS[:2]:
    write_trial(tracking.journal, trial, range(1, EPOCHS + 1))
while tracking.journal.waiting:  # the first trials sent
    time.sleep(0.01)
for trial in TRIALS[2:]:
    write_trial(tracking.journal, trial, range(1, EPOCHS + 1))
os.kill(os.getpid(), signal.SIGKILL)  # before the rest is sent: killed mid-sweep
"""


def test_a_journal_left_by_a_killed_driver_is_sent_on_resume(up, tmp_path):
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, up.url, str(tmp_path)], capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-3000:]
    plan = plan_for("killed", up.url, tmp_path)
    journal_file = journal_folder(plan) / "journal.jsonl"
    with journal_file.open("a") as out:
        out.write('{"op": "epoch", "trial_id": "t_0')  # a record torn by the kill

    tracking, lines = sending(plan)  # what `ladder sweep --resume killed` does first
    assert 6 <= tracking.journal.sent < len(tracking.journal.records)
    tracking.begin()
    assert tracking.finish(grace_s=60)
    assert lines.getvalue() == ""
    assert journal_file.read_text().endswith('{"op": "sweep_finished"}\n')
    assert_complete(up.url, "killed")
