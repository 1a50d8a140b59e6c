"""The README's "From Python": a sweep, its leaderboard as a DataFrame, the winner exported
and evaluated, and a timm model trained, through `pipeline.api` alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipeline.sweeps import SWEEP_TIMEOUT_S, sweep_env

README = Path(__file__).parents[2] / "README.md"


def readme_python() -> str:
    section = README.read_text().split("### From Python", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readmes_python_runs_a_sweep_and_takes_the_winner_home(digits_shards, store, tmp_path):
    """Run as a user runs it: a Python process in a folder holding data/digits."""
    shutil.copytree(digits_shards, tmp_path / "data" / "digits")  # `store` made tmp_path the cwd
    check = "\nprint('CHECK', len(board.rows), len(board.frame()), scores.top1, run.best_top1)\n"
    done = subprocess.run(
        [sys.executable, "-c", readme_python() + check],
        cwd=tmp_path, env=sweep_env(), capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("CHECK ")]
    rows, frame_rows, evaluated, trained = line.split()[1:]
    assert rows == frame_rows == "2"  # the two drawn learning rates, as rows and as a frame
    assert float(evaluated) > 0.5 and float(trained) > 0.3  # digits: chance is 0.1
    assert (tmp_path / "winner" / "config.json").is_file()


def test_the_api_imports_what_it_documents():
    from pipeline import api

    assert all(hasattr(api, name) for name in api.__all__)
