"""The Makefile's knobs, as a user sets them on the command line (`make -n`: nothing runs)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def make_dry(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True,
                          text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("target", ["test", "test-fast"])
@pytest.mark.parametrize("workers", ["0", "-1", "99999", "two", "2 3", ""])
def test_a_wrong_test_workers_is_one_line_and_exit_2_before_installing(target, workers):
    done = make_dry(target, f"TEST_WORKERS={workers}")
    assert done.returncode == 2, done.stdout + done.stderr
    expected = f"TEST_WORKERS={workers}: expected a number of pytest-xdist workers from 1 to 32"
    assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    assert "pip install" not in done.stdout and "pytest" not in done.stdout


@pytest.mark.parametrize("workers", ["1", "32", "auto"])
def test_test_workers_reaches_pytest_xdist(workers):
    done = make_dry("test-fast", f"TEST_WORKERS={workers}")
    assert done.returncode == 0, done.stderr
    assert f"pytest -n {workers} --dist loadfile -m" in done.stdout
