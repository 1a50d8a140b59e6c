"""What a sweep's runs hold, as pure functions of a trial's config and results: the
parent's and the trial's tags, its params, and the metrics each epoch adds (with the
summaries re-logged).

`SweepTracker` writes a live sweep with them, one epoch at a time; the benchmark's
generator (`pipeline.bench.tracking_load`) writes thousands of trials with the same
functions in one batch each, so a generated run cannot drift from a real one. Nothing
here imports Ray or opens a store.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass, field
from typing import Any

from lightning_modules.metric_names import (
    BEST_EPOCH,
    BEST_VAL_ACC1,
    BEST_VAL_ACC5,
    TRAIN_EPOCH_TIME,
    TRAIN_TOTAL_TIME,
    VAL_ACC1,
    VAL_ACC5,
    VAL_LAST_EPOCH,
)
from lightning_modules.specs import TrialConfig
from pipeline.tracking.schema import EPOCH_METRICS, EVENT_METRICS, MODEL_METRICS


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """A trial config as MLflow params: its model's and recipe's settings (as `TrialConfig`
    reads them, whatever the param space's shape) beside the run-level keys (`data`)."""
    trial = TrialConfig.of(config)
    run_level = {key: value for key, value in config.items()
                 if key not in ("trial", "model", "recipe", "__trial_index__")}  # fmt: skip
    return {**trial.model.to_dict(), **trial.recipe.to_dict(), **run_level}


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def now_ms() -> int:
    return int(time.time() * 1000)


def sweep_tags(sweep: str, space: str | None = None) -> dict[str, str]:
    """The tags of a sweep's parent run; without `space`, those that find it again."""
    tags = {"ladder.role": "sweep", "ladder.sweep": sweep}
    return tags if space is None else {**tags, "ladder.space": space}


def trial_tags(
    sweep: str, space: str, trial_id: str, parent_id: str, config: dict[str, Any]
) -> dict[str, str]:
    """The tags a trial's child run is created with (status `running` until it ends)."""
    return {
        "ladder.role": "trial",
        "ladder.trial_id": trial_id,
        "ladder.sweep": sweep,
        "mlflow.parentRunId": parent_id,
        "ladder.space": space,
        "ladder.arch": TrialConfig.of(config).model.arch,
        "ladder.status": "running",
    }


@dataclass
class TrialRecord:
    """What the tracker knows of one child run: its id and every metric value logged."""

    run_id: str
    history: dict[str, dict[int, float]] = field(default_factory=dict)  # key -> step -> value

    def steps(self, key: str) -> dict[int, float]:
        return self.history.setdefault(key, {})

    def add(self, keys: tuple[str, ...], metrics: dict[str, Any], step: int) -> dict[str, float]:
        """Record the numeric `keys` of `metrics` not yet logged at `step`; returns them."""
        new = {
            key: float(metrics[key])
            for key in keys
            if is_number(metrics.get(key)) and step not in self.steps(key)
        }
        for key, value in new.items():
            self.steps(key)[step] = value
        return new

    def summaries(self) -> dict[str, float]:
        """best/* from the epoch with the highest top-1 (earliest on ties), the last epoch
        with a top-1 (the leaderboard's `epochs`, without reading the history), and the
        total time."""
        summary = {}
        acc1 = self.steps(VAL_ACC1)
        if acc1:
            best_epoch = max(sorted(acc1), key=lambda epoch: acc1[epoch])
            summary[BEST_VAL_ACC1] = acc1[best_epoch]
            summary[BEST_EPOCH] = float(best_epoch)
            summary[VAL_LAST_EPOCH] = float(max(acc1))
            if best_epoch in self.steps(VAL_ACC5):
                summary[BEST_VAL_ACC5] = self.steps(VAL_ACC5)[best_epoch]
        epoch_times = self.steps(TRAIN_EPOCH_TIME)
        if epoch_times:
            summary[TRAIN_TOTAL_TIME] = float(sum(epoch_times.values()))
        return summary

    def epoch_metrics(self, epoch: int, metrics: dict[str, Any], timestamp: int) -> list:
        """The MLflow `Metric`s one epoch's result adds: the schema's keys not yet logged at
        their step (the epoch's, or 0 for model/*), with the summaries when the epoch is new.
        Keys outside the schema and non-numeric values are ignored (a Ray result carries
        many of both)."""
        from mlflow.entities import Metric

        new_epoch = self.add(EPOCH_METRICS + EVENT_METRICS, metrics, step=epoch)
        new_model = self.add(MODEL_METRICS, metrics, step=0)
        if new_epoch:
            new_epoch.update(self.summaries())
        batch = [Metric(key, value, timestamp, epoch) for key, value in new_epoch.items()]
        return batch + [Metric(key, value, timestamp, 0) for key, value in new_model.items()]
