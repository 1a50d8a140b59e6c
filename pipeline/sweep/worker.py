"""A sweep trial's Ray Train worker: one Lightning `Trainer` wired to Ray, from the config.

What `pipeline.sweep.trial.train_worker` runs on each worker, in a module of its own so
that Lightning, timm and torchmetrics are imported by the Train workers only. See
`pipeline/sweep/trial.py` for what runs where and how a trial recovers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from typing import Any

import pytorch_lightning as pl
import ray.train
from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer

from lightning_modules.cost import MeasureCost
from lightning_modules.divergence import Divergence
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest
from lightning_modules.run import build_run, in_chans_of, model_size, trainer_settings
from lightning_modules.specs import TrialConfig
from pipeline.sweep.console import quiet_worker
from pipeline.sweep.plan import CHECKPOINT_FILE


def run_worker(config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker: resume from the run's latest checkpoint if any."""
    quiet_worker()
    checkpoint = ray.train.get_checkpoint()
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext() as folder:
        fit(config, os.path.join(folder, CHECKPOINT_FILE) if folder else None)


def shards_on_this_node(data: str) -> dict[str, Any]:
    """The manifest of the shard folder `data` on the node running this worker.

    The driver checked `--data` on its own machine only; on a cluster every node reads
    the same path, so a node that lacks it (no shared storage, no copy) must name itself.
    """
    try:
        return load_manifest(data)
    except InputError:
        node = f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"
        raise RuntimeError(
            f"node {node} has no shards at --data {data}: put them on storage every node "
            "mounts at that path, or copy them to each node"
        ) from None


def fit(config: dict[str, Any], checkpoint_path: str | None) -> None:
    """Build data, model and a Lightning Trainer wired to Ray from a trial config; train."""
    trial = TrialConfig.of(config)
    manifest = shards_on_this_node(trial.data)
    spec, recipe = trial.model, trial.recipe
    pl.seed_everything(trial.seed, workers=True)  # before the weights are drawn
    classifier, data = build_run(trial.data, manifest, spec, recipe)
    reporter = ReportEveryEpoch(extra=model_size(spec, manifest))
    trainer = pl.Trainer(
        **trainer_settings(recipe),
        devices="auto",
        strategy=RayDDPStrategy(),
        plugins=[RayLightningEnvironment()],
        callbacks=[
            MeasureCost(spec.resolution, in_chans_of(manifest)),
            Divergence(len(manifest["classes"])),  # puts `diverged` in the last report
            reporter,
        ],
        enable_checkpointing=True,  # by `reporter`: Ray Train keeps them (best K by val/acc1)
        enable_progress_bar=False,  # Ray's trial table is the progress display
        enable_model_summary=False,
        logger=False,  # the sweep driver logs to MLflow off the reports
        num_sanity_val_steps=0,
    )
    prepare_trainer(trainer).fit(classifier, datamodule=data, ckpt_path=checkpoint_path)
    reporter.report_if_silent()


class ReportEveryEpoch(pl.callbacks.Checkpoint):
    """After each epoch (validation included): `ray.train.report` metrics + a checkpoint.

    A `Checkpoint` callback, so Lightning calls it after the module's own epoch-end hook
    (where `train/epoch_time` and `train/images_per_sec` are logged), not before.
    Every rank must call `report` (it is a barrier); only rank 0 hands over a checkpoint.
    `epoch` is reported 1-based: the number of epochs done, which is the MLflow step.
    `worker_node` is the Ray node that trained it (Tune's own `node_ip` is the trial's).

    The last metrics travel in the checkpoint (`state_dict`) because Tune's saved state
    lags: after a driver crash, a trial that had finished may be restored as running. Its
    Train run then resumes from the final checkpoint, trains no epoch and would report
    nothing, leaving Tune without the trial's result; `report_if_silent` reports it again.
    """

    def __init__(self, extra: dict[str, float]) -> None:
        self.extra = extra
        self.last_metrics: dict[str, float] = {}
        self.reported = False  # in this session

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
        metrics.update(self.extra, epoch=trainer.current_epoch + 1, workers=trainer.world_size)
        self.last_metrics = metrics  # saved with the checkpoint below
        with tempfile.TemporaryDirectory() as folder:
            trainer.save_checkpoint(os.path.join(folder, CHECKPOINT_FILE))  # a barrier too
            checkpoint = ray.train.Checkpoint.from_directory(folder)
            self._report(checkpoint if trainer.is_global_zero else None)

    def report_if_silent(self) -> None:
        """Report the last epoch again when this session trained none (a finished run)."""
        if not self.reported and self.last_metrics:
            self._report(None)

    def _report(self, checkpoint: ray.train.Checkpoint | None) -> None:
        node = ray.get_runtime_context().get_node_id()
        ray.train.report({**self.last_metrics, "worker_node": node}, checkpoint=checkpoint)
        self.reported = True

    def state_dict(self) -> dict[str, Any]:
        return {"last_metrics": self.last_metrics}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_metrics = state_dict["last_metrics"]
