"""A sweep of N trials written into a real MLflow store, as `SweepTracker` would leave it.

How the leaderboard (and anything else reading a sweep back) grows with the number of
trials can only be measured on a store that holds that many; a real sweep of 10,000 trials
costs days. `generate_sweep` writes one in minutes: the parent run, and per trial its child
run with the tags, params and per-epoch metrics (summaries re-logged at each epoch) built
by the very functions the tracker uses (`pipeline.tracking.trial_runs`), sent in one
`log_batch` per trial instead of one per epoch. The content is deterministic for a given
`seed`: model points over a grid of architectures, widths and resolutions, `seeds` trials
per point, top-1 rising with size and epochs plus seeded noise, and the statuses a real
sweep has (most finished, some stopped early by the scheduler, a few errors, a few
diverged, a few still running without an epoch).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product
from typing import Any

from lightning_modules.metric_names import (
    MODEL_ACTIVATIONS,
    MODEL_INFER_IMAGES_PER_SEC,
    MODEL_LATENCY_MS,
    MODEL_MACS,
    MODEL_PARAMS,
    MODEL_PEAK_MEMORY_MB,
    TRAIN_EPOCH_TIME,
    TRAIN_IMAGES_PER_SEC,
    TRAIN_LOSS,
    VAL_ACC1,
    VAL_ACC5,
    VAL_LOSS,
)
from lightning_modules.specs import ModelSpec
from pipeline.tracking.schema import TRIAL_STATUSES, seeded_name
from pipeline.tracking.trial_runs import TrialRecord, flatten_config, sweep_tags, trial_tags

# (arch, params, MACs at 224 px): the ladder's rungs, for plausible costs
ARCHS = (("lenet5", 61_706, 416_520), ("alexnet", 61.1e6, 714e6), ("vgg16", 138e6, 15.5e9),
         ("resnet18", 11.7e6, 1.8e9), ("resnet50", 25.6e6, 4.1e9),
         ("mobilenetv2", 3.5e6, 300e6), ("efficientnet", 5.3e6, 390e6))  # fmt: skip
WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
RESOLUTIONS = (64, 96, 128, 160, 192, 224, 256, 288)
START_MS = 1_700_000_000_000  # fixed times: the same seed gives the same store content
EPOCH_MS = 60_000
EPOCHS = 3


@dataclass(frozen=True)
class LoadTrial:
    """One generated trial: its config, per-epoch top-1/top-5 and how it ended."""

    trial_id: str
    name: str
    config: dict[str, Any]
    params: float
    macs: float
    acc1: tuple[float, ...]
    acc5: tuple[float, ...]
    status: str  # finished | stopped | error | diverged | running


def points(count: int) -> list[dict[str, Any]]:
    """The first `count` model points of the grid (arch x width x resolution), cycling
    through it with a growing depth multiplier once it is used up."""
    grid = list(product(ARCHS, WIDTHS, RESOLUTIONS))
    models = []
    for index in range(count):
        (arch, _, _), width, resolution = grid[index % len(grid)]
        depth = 1.0 + 0.25 * (index // len(grid))
        models.append({"arch": arch, "resolution": resolution, "width": width, "depth": depth})
    return models


def status_at(index: int) -> str:
    """The trial's end, in a fixed proportion: 1/10 stopped, 1/50 error, 1/50 diverged,
    1/100 still running (no epoch yet), the rest finished."""
    for every, status in ((100, "running"), (50, "error"), (49, "diverged"), (10, "stopped")):
        if index % every == every - 1:
            return status
    return "finished"


def load_trials(count: int, seeds: int = 2, epochs: int = EPOCHS, seed: int = 0) -> list[LoadTrial]:
    """`count` trials: ceil(count / seeds) points, `seeds` trials each (the last point may
    have fewer), deterministic for `seed`."""
    rng = random.Random(seed)
    models = points(count // seeds + 1)
    trials = []
    for index in range(count):
        model = models[index // seeds]
        arch_params, arch_macs = next((p, m) for a, p, m in ARCHS if a == model["arch"])
        scale = model["width"] ** 2 * model["depth"]
        macs = arch_macs * scale * (model["resolution"] / 224) ** 2
        status = status_at(index)
        done = {"running": 0, "stopped": 1, "diverged": 2}.get(status, epochs)
        ceiling = min(0.95, 0.3 + 0.05 * len(str(int(macs))) + rng.uniform(-0.05, 0.05))
        acc1 = tuple(round(ceiling * (1 - 0.5**e), 4) for e in range(1, done + 1))
        recipe = {"epochs": epochs, "lr": 0.1, "seed": index % seeds}
        point = ModelSpec.from_dict(model).name
        trials.append(LoadTrial(
            trial_id=f"load_{index:06d}",
            name=seeded_name(point, index % seeds) if seeds > 1 else point,
            config={"data": "/data/imagenet", "model": model, "recipe": recipe},
            params=arch_params * scale, macs=macs, acc1=acc1,
            acc5=tuple(min(1.0, a + 0.15) for a in acc1), status=status,
        ))  # fmt: skip
    return trials


def epoch_results(trial: LoadTrial) -> list[dict[str, float]]:
    """What the trial reported at each epoch (the keys of a Ray result the schema logs)."""
    results = []
    for epoch, (acc1, acc5) in enumerate(zip(trial.acc1, trial.acc5, strict=True), start=1):
        result = {TRAIN_LOSS: 2.0 / epoch, VAL_LOSS: 2.2 / epoch, VAL_ACC1: acc1,
                  VAL_ACC5: acc5, "lr": 0.1 / epoch, TRAIN_IMAGES_PER_SEC: 800.0,
                  TRAIN_EPOCH_TIME: 60.0, MODEL_PARAMS: trial.params,
                  MODEL_MACS: trial.macs, MODEL_ACTIVATIONS: trial.macs / 10}  # fmt: skip
        if epoch == len(trial.acc1):
            if trial.status == "diverged":
                result["diverged"] = 1.0
            else:
                result |= {MODEL_INFER_IMAGES_PER_SEC: 4e12 / trial.macs,
                           MODEL_LATENCY_MS: trial.macs / 1e8,
                           MODEL_PEAK_MEMORY_MB: trial.params / 1e5}  # fmt: skip
        results.append(result)
    return results


def write_trial(client: Any, experiment_id: str, parent_id: str, sweep: str, trial: LoadTrial,
                start_ms: int) -> str:  # fmt: skip
    """One trial's child run: created with its final status, its params and every epoch's
    metrics in one batch, closed as the tracker closes it (a running one stays open)."""
    from mlflow.entities import Param

    tags = trial_tags(sweep, "load", trial.trial_id, parent_id, trial.config)
    run = client.create_run(experiment_id, start_time=start_ms, run_name=trial.name,
                            tags=tags | {"ladder.status": trial.status})  # fmt: skip
    record = TrialRecord(run.info.run_id)
    metrics = [
        metric
        for epoch, result in enumerate(epoch_results(trial), start=1)
        for metric in record.epoch_metrics(epoch, result, start_ms + epoch * EPOCH_MS)
    ]
    params = [Param(key, str(value)) for key, value in flatten_config(trial.config).items()]
    client.log_batch(record.run_id, metrics=metrics, params=params)
    if trial.status != "running":
        end_ms = start_ms + (len(trial.acc1) + 1) * EPOCH_MS
        client.set_terminated(record.run_id, TRIAL_STATUSES[trial.status], end_time=end_ms)
    return record.run_id


def generate_sweep(uri: str, count: int, sweep: str, seeds: int = 2, seed: int = 0) -> str:
    """Write a sweep called `sweep` (its experiment too) of `count` trials into the store at
    `uri`; returns the experiment id. The experiment must not exist yet."""
    from mlflow import MlflowClient
    from mlflow.entities import Param

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(sweep)
    parent = client.create_run(experiment_id, start_time=START_MS, run_name=sweep,
                               tags=sweep_tags(sweep, "load"))  # fmt: skip
    client.log_batch(parent.info.run_id, params=[Param("epochs", str(EPOCHS))])
    for index, trial in enumerate(load_trials(count, seeds=seeds, seed=seed)):
        write_trial(client, experiment_id, parent.info.run_id, sweep, trial, START_MS + index)
    client.set_terminated(parent.info.run_id, "FINISHED", end_time=START_MS + count)
    return experiment_id
