"""What trains a sweep trial: one Lightning `Trainer` wired to Ray, from the config.

Where it trains decides which Ray API it reports through (`session`): `ray.tune` in the
trial actor of a one-worker trial (`run_in_trial_actor`), `ray.train` on each Ray Train
worker of a DDP trial (`run_worker`, with Ray's DDP strategy). Both have `report`,
`Checkpoint` and `get_checkpoint`, so the rest is one code path. A module of its own so
that Lightning, timm and torchmetrics are imported where a trial trains only. See
`pipeline/sweep/trial.py` for what runs where and how a trial recovers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from types import ModuleType
from typing import Any

import pyarrow.fs
import pytorch_lightning as pl
import ray.train
import ray.tune
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
    """Runs on every Ray Train worker of a DDP trial."""
    train(config, ray.train)


def run_in_trial_actor(config: dict[str, Any]) -> None:
    """Runs in the Tune trial actor of a one-worker trial."""
    train(config, ray.tune)


def train(config: dict[str, Any], session: ModuleType) -> None:
    """Resume from the trial's latest checkpoint if any, and train. A checkpoint newer
    than Tune's is one whose epoch's report never reached the driver (it went down first):
    that epoch is reported again before training goes on, or MLflow would never have it."""
    quiet_worker()
    if session is ray.train:
        checkpoint, replay = session.get_checkpoint(), False
    else:
        known = ray.tune.get_checkpoint()
        checkpoint = newest_tune_checkpoint(known)
        replay = checkpoint is not known
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext() as folder:
        path = os.path.join(folder, CHECKPOINT_FILE) if folder else None
        fit(config, path, session, replay=replay)


def newest_tune_checkpoint(known: ray.tune.Checkpoint | None) -> ray.tune.Checkpoint | None:
    """The newest `checkpoint_*` in this trial's folder, local or in remote storage.

    Tune's saved state lags the trial's reports: after a driver crash, `Tuner.restore`
    may hand a trial an older checkpoint than its last, or none, and it would train those
    epochs again (Ray Train keeps its own state beside its checkpoints, so a DDP trial
    does not need this)."""
    from ray.train._internal.session import get_session

    storage = get_session().storage
    fs, folder = storage.storage_filesystem, storage.trial_fs_path
    found = fs.get_file_info(pyarrow.fs.FileSelector(folder, allow_not_found=True))
    names = [
        info.base_name
        for info in found
        if info.type == pyarrow.fs.FileType.Directory and info.base_name.startswith("checkpoint_")
    ]
    if not names or (known and os.path.basename(known.path) >= max(names)):
        return known
    return ray.tune.Checkpoint(f"{folder}/{max(names)}", filesystem=fs)


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


def fit(
    config: dict[str, Any], checkpoint_path: str | None, session: ModuleType, replay: bool = False
) -> None:
    """Build data, model and a Lightning Trainer wired to Ray from a trial config; train
    (`replay`: report the checkpoint's epoch again first, see `train`)."""
    trial = TrialConfig.of(config)
    manifest = shards_on_this_node(trial.data)
    spec, recipe = trial.model, trial.recipe
    pl.seed_everything(trial.seed, workers=True)  # before the weights are drawn
    classifier, data = build_run(trial.data, manifest, spec, recipe)
    reporter = ReportEveryEpoch(session, extra=model_size(spec, manifest), replay=replay)
    ddp = session is ray.train
    trainer = pl.Trainer(
        **trainer_settings(recipe),
        # in the trial actor: the one device Ray gave it (its CUDA_VISIBLE_DEVICES)
        **(ddp_wiring() if ddp else {"devices": 1}),
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
    try:
        (prepare_trainer(trainer) if ddp else trainer).fit(
            classifier, datamodule=data, ckpt_path=checkpoint_path
        )
    finally:  # a trial the scheduler stops ends in its report, past Lightning's teardown:
        data.teardown("fit")  # its loader workers would hold up the actor's next trial
    reporter.report_if_silent()


def ddp_wiring() -> dict[str, Any]:
    """A Ray Train worker's Trainer settings: DDP among the trial's workers, through Ray."""
    return {
        "devices": "auto",
        "strategy": RayDDPStrategy(),
        "plugins": [RayLightningEnvironment()],
    }


class ReportEveryEpoch(pl.callbacks.Checkpoint):
    """After each epoch (validation included): `session.report` metrics + a checkpoint.

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

    def __init__(self, session: ModuleType, extra: dict[str, float], replay: bool = False) -> None:
        self.session = session  # ray.train or ray.tune
        self.extra = extra
        self.replay = replay  # the restored checkpoint's epoch was never reported
        self.last_metrics: dict[str, float] = {}
        self.reported = False  # in this session

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report the restored checkpoint's epoch again, once, when Tune never got it."""
        if self.replay and self.last_metrics:
            self._report(None, replayed=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
        metrics.update(self.extra, epoch=trainer.current_epoch + 1, workers=trainer.world_size)
        self.last_metrics = metrics  # saved with the checkpoint below
        with tempfile.TemporaryDirectory() as folder:
            trainer.save_checkpoint(os.path.join(folder, CHECKPOINT_FILE))  # a barrier too
            checkpoint = self.session.Checkpoint.from_directory(folder)
            self._report(checkpoint if trainer.is_global_zero else None)

    def report_if_silent(self) -> None:
        """Report the last epoch again when this session trained none (a finished run)."""
        if not self.reported and self.last_metrics:
            self._report(None, replayed=True)

    def _report(self, checkpoint: Any, replayed: bool = False) -> None:
        """Report the last epoch; `replayed` (1 in the result) marks an epoch reported
        again, not trained again."""
        node = ray.get_runtime_context().get_node_id()
        metrics = {**self.last_metrics, "worker_node": node}
        if replayed:
            metrics["replayed"] = 1
        self.session.report(metrics, checkpoint=checkpoint)
        self.reported = True

    def state_dict(self) -> dict[str, Any]:
        return {"last_metrics": self.last_metrics}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_metrics = state_dict["last_metrics"]
