"""A durable journal between a run's tracking and MLflow, and the sender that empties it.

Every tracking write is first appended to `journal.jsonl` (one JSON object a line,
flushed and fsynced) and only then sent, in order, by a `Sender` on a thread of its own:
whoever writes (a Ray Tune callback, a Lightning logger) never waits on the network and
never fails because the tracking server is away. `journal.sent` counts the records
delivered; a killed process loses nothing that reached the journal, and the next sender
(`ladder sync`, `ladder sweep --resume`) starts where the last one stopped.

Records are sent at least once, so whatever applies them must be idempotent (the
trackers find a run by its tags before creating it and skip a metric's logged steps).
They go in windows of up to `WINDOW` records, which the applier may send as one request a
run (a backlog of thousands of records then costs a few requests a trial, not one a
record); a window is marked sent when all of it was. A record the server refuses as bad
input (HTTP 4xx) is skipped with one line; any other failure is an outage: one line when
it begins, one when the backlog is sent, and retries on the sender's own schedule, with
MLflow's own HTTP retries cut short (`quick_http`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from lightning_modules.errors import InputError

JOURNAL_FILE = "journal.jsonl"
SENT_FILE = "journal.sent"
LOCK_FILE = "journal.lock"
WINDOW = 500  # records applied together at most; a window is resent whole after a failure
MLFLOW_REQUEST = re.compile(r"API request to \S*?/api/2\.0/mlflow/(?P<route>\S+) failed")
NETWORK_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")
RETRY_S = (1.0, 2.0, 4.0, 8.0)  # waits between tries during an outage; the last repeats
HTTP_SETTINGS = {  # MLflow retries 7 times over ~4 minutes by default, blocking the sender
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


def quick_http() -> None:
    """MLflow HTTP requests of this process fail in seconds; the sender retries them.

    MLflow reads these at each request and has no per-client setting; a value the user
    set wins.
    """
    for key, value in HTTP_SETTINGS.items():
        os.environ.setdefault(key, value)


class Journal:
    """The append-only record of a run's tracking writes, in `folder`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / JOURNAL_FILE
        self.records: list[dict[str, Any]] = self._read()
        self.sent = self._read_sent()  # how many of the records were delivered
        self.appended = threading.Event()  # set on every append: wakes the sender
        self._lock = threading.Lock()

    def _read(self) -> list[dict[str, Any]]:
        """The records on disk; a line torn by a kill mid-write is cut off."""
        if not self.path.is_file():
            return []
        data = self.path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) < len(data):
            with self.path.open("r+b") as out:
                out.truncate(len(whole))
        return [json.loads(line) for line in whole.decode().splitlines() if line.strip()]

    def append(self, op: str, **args: Any) -> None:
        """Write one record durably (fsync) before anyone may send it."""
        record = {"op": op, **args}
        line = json.dumps(record, default=str) + "\n"
        with self._lock, self.path.open("a") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
            self.records.append(json.loads(line))
        self.appended.set()

    def _read_sent(self) -> int:
        try:
            return min(int((self.folder / SENT_FILE).read_text()), len(self.records))
        except (FileNotFoundError, ValueError):
            return 0

    def mark_sent(self, count: int) -> None:
        """Record that the first `count` records were delivered (atomically replaced)."""
        temporary = self.folder / f"{SENT_FILE}.tmp"
        temporary.write_text(str(count))
        os.replace(temporary, self.folder / SENT_FILE)
        self.sent = count

    @property
    def waiting(self) -> int:
        return len(self.records) - self.sent


_OPEN: dict[Path, Journal] = {}


def shared_journal(folder: Path) -> Journal:
    """The one `Journal` object of `folder` in this process, so that the writer (a Tune
    callback Tune restored from its state) and the sender see the same records."""
    folder = folder.resolve()
    if folder not in _OPEN:
        _OPEN[folder] = Journal(folder)
    return _OPEN[folder]


def is_refusal(error: BaseException) -> bool:
    """The server answered that the request itself is wrong (4xx, not 429): no retry helps."""
    from mlflow.exceptions import MlflowException

    if not isinstance(error, MlflowException):
        return False
    status = error.get_http_status_code()
    return 400 <= status < 500 and status != 429


class Sender:
    """Delivers a journal's records in order through `apply`, retrying through outages.

    `apply(records)` sends a window of consecutive records; `reset()` is called after any
    failure (the window is then sent again, or one record at a time to find the one the
    server refuses), so cached
    knowledge of what the server holds is read again rather than trusted. Holding the
    journal's lock file, it is the only sender of that journal on this machine.
    """

    def __init__(
        self,
        journal: Journal,
        apply: Callable[[list[dict[str, Any]]], None],
        reset: Callable[[], None],
        out: TextIO | None = None,
    ) -> None:
        self.journal = journal
        self.apply = apply
        self.reset = reset
        self.out = out or sys.stderr
        self.down_since: float | None = None  # monotonic time of the outage's first failure
        self.sent_in_outage = 0
        self._lock_file = claim(journal)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        quick_http()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tracking-sender", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        tries = 0
        while not self._stop.is_set():
            self.journal.appended.clear()
            if self.send_pending():
                tries = 0
                self.journal.appended.wait(timeout=1.0)
            else:
                self._stop.wait(RETRY_S[min(tries, len(RETRY_S) - 1)])
                tries += 1

    def send_pending(self) -> bool:
        """Send every record not yet delivered; False when the server is away."""
        one_by_one_until = 0  # after a refused window: its records one at a time
        while (start := self.journal.sent) < len(self.journal.records):
            size = 1 if start < one_by_one_until else WINDOW
            window = self.journal.records[start : start + size]
            try:
                self.apply(window)
            except Exception as error:  # noqa: BLE001 - whatever MLflow raises, the sender lives
                self.reset()
                if not is_refusal(error):
                    self._went_down(error)
                    return False
                if len(window) > 1:
                    one_by_one_until = start + len(window)
                    continue
                self.say(f"tracking: record {start + 1} ({window[0]['op']}) refused: {error}")
            self.journal.mark_sent(start + len(window))
            if self.down_since is not None:
                self.sent_in_outage += len(window)
        if self.down_since is not None:
            self.say(f"tracking server is back; sent {self.sent_in_outage} records")
            self.down_since, self.sent_in_outage = None, 0
        return True

    def _went_down(self, error: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.say(
                f"tracking server unreachable; {self.journal.waiting} records waiting in "
                f"{self.journal.path} ({cause(error)})"
            )

    def drain(self, grace_s: float) -> bool:
        """Wait until every record appended so far is sent; give up once the server has
        been away for `grace_s`. True when all was sent."""
        while self.journal.waiting:
            if self.down_since is not None and time.monotonic() - self.down_since > grace_s:
                return False
            self.journal.appended.set()  # no wait for the idle timeout
            time.sleep(0.1)
        return True

    def close(self, grace_s: float, sync_command: str) -> bool:
        """Drain (see `drain`), then stop; when records remain, one line naming the command
        that sends them. True when all was sent."""
        sent = self.drain(grace_s)
        self.stop()
        if not sent:
            self.say(
                f"{self.journal.waiting} tracking records not sent yet; `{sync_command}` sends them"
            )
        return sent

    def stop(self) -> None:
        self._stop.set()
        self.journal.appended.set()
        if self._thread is not None:
            self._thread.join()
        self._lock_file.close()

    def say(self, line: str) -> None:
        print(f"ladder: {line}", file=self.out, flush=True)


def cause(error: BaseException, limit: int = 120) -> str:
    """The gist of what failed, shortened. For a failed MLflow request: the route and the
    network's reason, not the server's address, which inside a container (http://mlflow:5000)
    is one the user on the host cannot open."""
    text = str(error)
    if request := MLFLOW_REQUEST.search(text):
        reasons = NETWORK_REASON.findall(text)
        reason = reasons[-1].strip() if reasons else "timed out" if "timed out" in text else ""
        text = f"{request['route']}: {reason or type(error).__name__}"
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        text = f"{type(error).__name__}: {lines[-1] if lines else ''}"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def claim(journal: Journal) -> TextIO:
    """The journal's lock, held while sending: two senders would interleave.

    A POSIX record lock (`lockf`), not `flock`: forked children (DataLoader workers that
    outlive the run) do not inherit it, so the next run in this process can claim it.
    """
    lock_file = (journal.folder / LOCK_FILE).open("w")
    try:
        fcntl.lockf(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        lock_file.close()
        raise InputError(f"{journal.folder}: another ladder process is sending it now") from None
    return lock_file
