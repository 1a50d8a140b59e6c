"""The trial function's training, in this process: what it leaves behind when it ends."""

from __future__ import annotations

from multiprocessing import active_children
from types import SimpleNamespace

import pytest

from lightning_modules.specs import ModelSpec, Recipe
from pipeline.sweep import worker


class Stopped(Exception):
    """What Tune raises in a trial's report once its scheduler stopped it."""


def test_a_trial_stopped_at_its_report_leaves_no_loader_worker_running(digits_shards, monkeypatch):
    """ASHA stops a trial in its epoch's report, which ends the fit past Lightning's own
    teardown; left running, its loader workers held up the next trial of the reused actor
    by 20 s (torch waits 5 s for each when the garbage collector stops them)."""

    def stop(reporter, checkpoint):
        raise Stopped

    monkeypatch.setattr(worker.ReportEveryEpoch, "_report", stop)
    session = SimpleNamespace(Checkpoint=SimpleNamespace(from_directory=lambda folder: folder))
    config = {"model": ModelSpec(arch="lenet5", resolution=32).to_dict(),
              "recipe": Recipe(epochs=2).to_dict(), "data": str(digits_shards)}  # fmt: skip
    before = {child.pid for child in active_children()}
    with pytest.raises(Stopped):
        worker.fit(config, None, session)
    left = {child.pid for child in active_children()} - before
    assert not left, f"loader workers still running after a stopped trial: {sorted(left)}"
