"""cnn-ladder from Python: the calls behind `ladder sweep`, `train`, `leaderboard`, `export`
and `evaluate`. They take and return typed objects, the ones the commands build from their
flags, so a notebook runs exactly what the command line runs:

    from pipeline import api

    config = api.read_config("my_sweep.yaml")              # or api.SweepConfig(...)
    api.sweep(config.model_copy(update={"name": "mine"}))  # 0: every trial finished
    board = api.leaderboard("mine")
    board.frame().sort_values("macs")                      # a pandas DataFrame

    result = api.train(api.TrainRequest(Path("data/digits"), api.resolve_model("lenet5"),
                                        api.named_recipe("demo")))
    api.export("mine", None, "ray_results", Path("winner"))  # None: the best trial
    api.evaluate("winner", Path("data/digits"))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.recipes import named_recipe
from lightning_modules.specs import ModelSpec, Recipe, resolve_model
from pipeline.models.evaluate import Scores, evaluate_model
from pipeline.models.export import export
from pipeline.report.baseline_runs import Baseline, baselines_of
from pipeline.report.leaderboard import Row, format_with_baselines, leaderboard_rows
from pipeline.sweep import DEFAULT_STORAGE
from pipeline.sweep.config import SweepConfig, read_config
from pipeline.training.train import TrainRequest, TrainResult, train
from tune_spaces import SearchSpace

__all__ = [
    "InputError", "ModelSpec", "Recipe", "SearchSpace", "SweepConfig", "TrainRequest",
    "TrainResult", "Scores", "Leaderboard", "named_recipe", "resolve_model", "read_config",
    "sweep", "resume", "train", "leaderboard", "export", "evaluate",
]  # fmt: skip
evaluate = evaluate_model


def sweep(config: SweepConfig, dry_run: bool = False, budget_hours: float | None = None) -> int:
    """Run the sweep `config` describes (`dry_run`: print its plan and price only); 0 when
    every trial finished. Ray starts here, or joins $RAY_ADDRESS."""
    from pipeline.sweep.launch import run_sweep

    return run_sweep(config, dry_run, budget_hours)


def resume(name: str = "latest", storage: str = DEFAULT_STORAGE) -> int:
    """Continue sweep `name` where it stopped: finished trials stay, the rest go on."""
    from pipeline.sweep.launch import resume_sweep

    return resume_sweep(name, storage)


@dataclass(frozen=True)
class Leaderboard:
    """A sweep's rows as `ladder leaderboard` ranks them, and its baselines."""

    experiment: str
    rows: list[Row]
    baselines: list[Baseline]

    def frame(self) -> Any:
        """The rows as a pandas DataFrame, one column per `Row` field."""
        import pandas

        return pandas.DataFrame([asdict(row) for row in self.rows])

    def text(self, fmt: str = "table") -> str:
        """The leaderboard as the command prints it: table, md, csv or json."""
        return format_with_baselines(self.rows, self.baselines, fmt)


def leaderboard(
    experiment: str | None = None, pareto_by: str = "macs", tracking_uri: str | None = None
) -> Leaderboard:
    """The ranked rows of `experiment` (default: the latest sweep's) from MLflow; the
    Pareto front by `pareto_by` (macs, throughput or latency)."""
    from pipeline.report.leaderboard import resolve_experiment
    from pipeline.tracking.schema import open_client
    from pipeline.tracking.schema import tracking_uri as default_uri

    client = open_client(tracking_uri or default_uri())
    found = resolve_experiment(client, experiment)
    rows = leaderboard_rows(client, found.name, pareto_by)
    if not any(row.top1 is not None for row in rows):
        raise InputError(
            f"experiment {found.name!r} has no trial with a finished epoch yet "
            f"({len(rows)} trial(s) started); wait for the sweep, or check `ladder ui`"
        )
    return Leaderboard(found.name, rows, baselines_of(client, found.experiment_id))
