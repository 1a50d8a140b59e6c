"""The trial function's training, in this process: what it leaves behind when it ends."""

from __future__ import annotations

import shutil
from multiprocessing import active_children
from pathlib import Path
from types import SimpleNamespace

import pytest

from lightning_modules.specs import ModelSpec, Recipe
from pipeline.sweep import worker
from pipeline.sweep.plan import CHECKPOINT_FILE


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


class RecordingSession:
    """A Tune session in this process: each report's epoch, whether it carried a checkpoint
    (kept in `kept`) and whether it was marked replayed; `stop_after` epochs, it stops the
    trial as ASHA would."""

    def __init__(self, kept: Path, stop_after: int | None = None) -> None:
        self.reports: list[tuple[int, bool]] = []
        self.kept, self.stop_after = kept, stop_after
        self.Checkpoint = SimpleNamespace(from_directory=self.keep)

    def keep(self, folder: str) -> str:
        shutil.copytree(folder, self.kept, dirs_exist_ok=True)
        return str(self.kept)

    def report(self, metrics: dict, checkpoint: str | None = None) -> None:
        self.reports.append((int(metrics["epoch"]), checkpoint is not None, "replayed" in metrics))
        if self.stop_after is not None and len(self.reports) >= self.stop_after:
            raise Stopped


@pytest.mark.parametrize("replay", [True, False])
def test_a_trial_resumed_from_a_checkpoint_the_driver_never_saw_reports_its_epoch_again(
    digits_shards, tmp_path, monkeypatch, replay
):
    """A driver that went down between a trial's checkpoint and its report never got that
    epoch: the trial resumes from the newest checkpoint in storage (`train`) and reports
    that epoch again, marked replayed and without a checkpoint, before the next (the
    Docker stack's sweep lost
    an epoch 1 from MLflow this way). From a checkpoint Tune knew, nothing is repeated."""
    monkeypatch.setattr(worker.ray, "get_runtime_context",
                        lambda: SimpleNamespace(get_node_id=lambda: "node"))  # fmt: skip
    config = {"model": ModelSpec(arch="lenet5", resolution=32).to_dict(),
              "recipe": Recipe(epochs=2).to_dict(), "data": str(digits_shards)}  # fmt: skip
    first = RecordingSession(tmp_path / "checkpoint", stop_after=1)
    with pytest.raises(Stopped):
        worker.fit(config, None, first)
    assert first.reports == [(1, True, False)]
    resumed = RecordingSession(tmp_path / "later")
    worker.fit(config, str(tmp_path / "checkpoint" / CHECKPOINT_FILE), resumed, replay=replay)
    assert resumed.reports == ([(1, False, True)] if replay else []) + [(2, True, False)]
