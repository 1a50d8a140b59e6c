"""Baseline runs in MLflow: what `ladder baseline` logs, as the leaderboard and charts read it.

A baseline is a classic scikit-learn model on raw pixels, fitted on the same shards and
split as the sweep's trials: the accuracy a network has to beat to be worth its cost. It
is a run of the sweep's experiment tagged `ladder.role=baseline` (never `trial`, so it is
not ranked among the trials), with params `model`, `n_train`, `image_size`, `data`, and
the metric `val/acc1` (a fraction, like the trials').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lightning_modules.metric_names import VAL_ACC1
from pipeline.tracking.schema import search_all_runs

ROLE = "baseline"  # the run's `ladder.role`


@dataclass(frozen=True)
class Baseline:
    """The latest baseline run of one model; `top1` is a fraction."""

    model: str
    n_train: int
    image_size: str  # "28x28": the raw pixels it saw
    top1: float
    run_id: str

    @property
    def label(self) -> str:
        return f"baseline {self.model} (raw pixels {self.image_size}, n={self.n_train})"


def baselines_of(client: Any, experiment_id: str) -> list[Baseline]:
    """The latest finished baseline run of each model in the experiment, by model name."""
    runs = search_all_runs(client, [experiment_id], {"ladder.role": ROLE})
    latest: dict[str, Baseline] = {}
    for run in sorted(runs, key=lambda run: run.info.start_time):
        params, top1 = run.data.params, run.data.metrics.get(VAL_ACC1)
        if top1 is None:  # killed before it scored
            continue
        latest[params["model"]] = Baseline(
            model=params["model"],
            n_train=int(params["n_train"]),
            image_size=params.get("image_size", "?"),
            top1=top1,
            run_id=run.info.run_id,
        )
    return [latest[model] for model in sorted(latest)]
