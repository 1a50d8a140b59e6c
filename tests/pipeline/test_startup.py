"""Light commands start at once: `ladder --help`, every `ladder COMMAND --help`, `ladder
recipes` and flag errors load neither torch, Ray, Lightning, MLflow nor timm (each costs
seconds on a small machine). Each case runs in a fresh interpreter, as a user's would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.cli import COMMANDS

HEAVY = ("torch", "ray", "pytorch_lightning", "lightning", "mlflow", "timm", "webdataset")
PROBE = """
import json, sys
from pipeline.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit_:  # --help exits
    code = exit_.code
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


def start(*argv: str) -> dict:
    """The exit code of `ladder ARGV` and the heavy packages it had imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("recipes",), ("recipes", "default")]
    + [(command, "--help") for command in COMMANDS],
    ids=" ".join,
)
def test_help_and_recipes_load_no_heavy_package(argv):
    assert start(*argv) == {"code": 0, "heavy": []}


@pytest.mark.parametrize(
    "argv",
    [
        ("train", "--arch", "lenet5", "--data", "d", "--resolution", "abc"),
        ("sweep", "--scheduler", "hyperband"),
        ("shards", "--out", "x"),  # --src or --demo is required
        ("leaderboard", "--format", "xml"),
        ("profile",),  # the architecture is required
        ("no-such-command",),
        # evaluate says what is wrong with its input before it loads a network
        ("evaluate", "/no/model", "--data", "/no/shards"),
        ("evaluate", "/no/model", "--data", "/no/shards", "--batch-size", "0"),
        ("evaluate", "/no/model", "--data", "/no/shards", "--workers", "-1"),
    ],
    ids=" ".join,
)
def test_flag_errors_load_no_heavy_package(argv):
    assert start(*argv) == {"code": 2, "heavy": []}


@pytest.mark.slow
def test_the_probe_sees_a_heavy_import():
    """The probe is not blind: a command that does work (profile counts with torch) loads it."""
    assert "torch" in start("profile", "lenet5", "--json")["heavy"]


def test_a_trials_actor_and_controller_load_no_lightning():
    """Ray's trial actor and Train controller import the trainable's module and unpickle its
    callbacks; Lightning, timm and torchmetrics (~5 s each time on 2 cores) are for the
    Train workers, which import `pipeline.sweep.worker`."""
    probe = """
import sys
from ray import cloudpickle
from pipeline.sweep import console, trial
cloudpickle.dumps((trial.run_trial, trial.train_worker, console.QuietController()))
print(sorted(m for m in ("pytorch_lightning", "timm", "torchmetrics", "torch") if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["['torch']"], done.stderr[-2000:]
