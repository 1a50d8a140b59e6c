"""One sweep trial: a Ray Tune function that runs a Ray Train (V2) job of Lightning workers.

What runs where:
  sweep driver  `tune.Tuner(...).fit()` (pipeline/sweep/launch.py), logging to MLflow off the
                trial results (no trial needs a route to the tracking store);
  trial actor   `run_trial(config)`: launches a `TorchTrainer` and waits for it;
  Train workers `train_worker(config)`: one Lightning `Trainer` per worker, DDP through
                Ray's strategy, reporting metrics and a checkpoint every epoch.

Recovery comes from Ray Train: the Train run is named after the Tune trial and lives in
the sweep's storage, so when a worker dies (FailureConfig) or the whole sweep is resumed
(`Tuner.restore`), the workers find the latest checkpoint with `ray.train.get_checkpoint()`
and Lightning continues from it, epoch count included.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from typing import Any

import pytorch_lightning as pl
import ray.train
from ray import tune
from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from lightning_modules.cost import MeasureCost
from lightning_modules.divergence import Divergence
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest
from lightning_modules.metric_names import VAL_ACC1
from lightning_modules.run import build_run, in_chans_of, model_size, trainer_settings
from lightning_modules.specs import TrialConfig
from pipeline.sweep.console import QuietController, quiet_worker, train_logging, verbose
from pipeline.sweep.plan import TrialResources

CHECKPOINT_FILE = "model.ckpt"
METRIC, MODE = VAL_ACC1, "max"  # what "best" means for checkpoints, schedulers, leaderboards


def run_trial(config: dict[str, Any], resources: TrialResources) -> None:
    """The Tune trainable: one Ray Train job, named after the trial so it can be resumed."""
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=config,
        scaling_config=ray.train.ScalingConfig(
            num_workers=resources.workers,
            use_gpu=resources.gpus_per_worker > 0,
            resources_per_worker={
                "CPU": resources.cpus_per_worker,
                **({"GPU": resources.gpus_per_worker} if resources.gpus_per_worker else {}),
            },
        ),
        run_config=ray.train.RunConfig(
            name=train_run_name(tune.get_context().get_trial_id()),
            storage_path=resources.train_storage,
            failure_config=ray.train.FailureConfig(max_failures=resources.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=resources.checkpoints_to_keep,
                checkpoint_score_attribute=METRIC,
                checkpoint_score_order=MODE,
            ),
            # Each Train report becomes a Tune result; QuietController quiets the controller.
            callbacks=[TuneReportCallback(), *([] if verbose() else [QuietController()])],
            logging_config=train_logging(),
        ),
    )
    trainer.fit()


def train_run_name(trial_id: str) -> str:
    """The Ray Train run of a trial: `<sweep>/train/<this>/checkpoint_*/model.ckpt`."""
    return f"train-{trial_id}"


def train_worker(config: dict[str, Any]) -> None:
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


def failure_line(error: BaseException) -> str:
    """The last `SomeError: message` line of a failed trial's error: the worker's own
    exception, whose traceback Ray's wrappers (RayTaskError, WorkerGroupError) quote as
    text."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
    return raised[-1] if raised else (lines[0] if lines else type(error).__name__)
