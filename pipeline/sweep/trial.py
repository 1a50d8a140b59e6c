"""One sweep trial: a Ray Tune function that trains one Lightning model, reporting metrics
and a checkpoint every epoch.

What runs where:
  sweep driver  `tune.Tuner(...).fit()` (pipeline/sweep/launch.py), logging to MLflow off the
                trial results (no trial needs a route to the tracking store);
  trial actor   `run_trial(config)`. A one-worker trial (`TrialResources.in_trial_actor`)
                trains right there (`pipeline.sweep.worker.run_in_trial_actor`), and Tune
                reuses the actor for the next trial: Lightning, timm and the data loader's
                code are imported once per actor, not once per trial. A DDP trial launches
                a Ray Train (V2) `TorchTrainer` and waits for it;
  Train workers `train_worker(config)` (pipeline/sweep/worker.py): one Lightning `Trainer`
                per worker, DDP through Ray's strategy.

This module is what the trial actor and Ray Train's controller import: Ray, and torch
through `TorchTrainer`, but not Lightning, timm or torchmetrics, which only the process
that trains imports.

Recovery: a one-worker trial's checkpoints are Tune's, in the trial's folder, so when its
actor dies (Tune's FailureConfig) or the whole sweep is resumed (`Tuner.restore`), the
new actor finds the latest with `ray.tune.get_checkpoint()`. A DDP trial's Train run is
named after the Tune trial and lives in the sweep's storage; its workers find the latest
with `ray.train.get_checkpoint()`. Either way Lightning continues from it, epoch count
included.
"""

from __future__ import annotations

import re
from typing import Any

import ray.train
from ray import tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from lightning_modules.metric_names import VAL_ACC1
from pipeline.sweep.console import QuietController, train_logging, verbose
from pipeline.sweep.plan import TrialResources

METRIC, MODE = VAL_ACC1, "max"  # what "best" means for checkpoints, schedulers, leaderboards


def run_trial(config: dict[str, Any], resources: TrialResources) -> None:
    """The Tune trainable: training here, or one Ray Train job named after the trial so it
    can be resumed."""
    if resources.in_trial_actor:
        from pipeline.sweep.worker import run_in_trial_actor

        run_in_trial_actor(config)
        return
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
    """Runs on every Ray Train worker (`pipeline.sweep.worker.run_worker`), imported there
    only: the trial actor and Ray Train's controller unpickle this function and the
    callbacks, and importing Lightning, timm and torchmetrics in each of them as well
    cost ~8 s of a 2-core node per process, three processes per trial."""
    from pipeline.sweep.worker import run_worker

    run_worker(config)


def failure_line(error: BaseException) -> str:
    """The last `SomeError: message` line of a failed trial's error: the worker's own
    exception, whose traceback Ray's wrappers (RayTaskError, WorkerGroupError) quote as
    text."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
    return raised[-1] if raised else (lines[0] if lines else type(error).__name__)
