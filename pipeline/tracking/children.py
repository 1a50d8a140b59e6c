"""`python -m pipeline.tracking.children COMMAND...`: a server run under a small supervisor.

`ladder ui` and `ladder server` become this supervisor (exec, so their pid and their
signals stay theirs, without the memory of the `ladder` process that started it). It runs
MLflow in a process group of its own; a SIGTERM (`kill`, `docker stop`), SIGINT or SIGHUP
is passed on to MLflow, which passes it to its workers; once MLflow has exited, helpers
it left in the group get the same signal, and the supervisor exits when the group is
gone, with MLflow's status. Without it, `kill -TERM` ended `ladder` alone and left the
server and its helper processes serving, orphaned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
GRACE_S = 10.0  # for helpers to exit after the signal, before SIGKILL


def exec_supervised(command: list[str], env: dict[str, str]) -> None:
    """Replace this process with the supervisor of `command`."""
    sys.stdout.flush()
    sys.stderr.flush()
    supervisor = [sys.executable, "-m", "pipeline.tracking.children", *command]
    os.execve(sys.executable, supervisor, env)


def run_child(command: list[str]) -> int:
    """Run `command` until it and its helpers exit, passing the signals above on."""
    process = subprocess.Popen(command, start_new_session=True)
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if process.poll() is None:
            process.send_signal(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    status = process.wait()
    end_group(process.pid, received[-1] if received else signal.SIGTERM)
    return status if status >= 0 else 128 - status


def end_group(group: int, signum: int) -> None:
    """Signal what is left of the process group, and wait until it is gone."""
    deadline = time.monotonic() + GRACE_S
    try:
        os.killpg(group, signum)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            os.killpg(group, 0)  # ProcessLookupError once the group is empty
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        return


if __name__ == "__main__":
    sys.exit(run_child(sys.argv[1:]))
