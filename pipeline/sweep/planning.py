"""Planning a sweep, before Ray starts: the sweep file checked and its trials drawn
(`pipeline.sweep.search`), the plan (`pipeline.sweep.plan`), its trials printed and its
price (`pipeline.sweep.estimate`). Nothing here imports Ray, Tune or MLflow, so a dry run
costs the imports of torch and the zoo, and the few probes of the price.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest, upsampling_warning
from pipeline.data.demo import demo_shards
from pipeline.sweep.config import Resources, SweepConfig
from pipeline.sweep.estimate import Price, check_budget, format_estimate, local_slots, price_of
from pipeline.sweep.plan import (
    TRAIN_FOLDER,
    SweepPlan,
    TrialResources,
    point_name,
    storage_root,
    sweep_exists,
)
from pipeline.sweep.search import (
    DRY_RUN_DRAWS,
    PROPOSED,
    check_search,
    drawn_trials,
    saved_param_space,
)
from pipeline.tracking.schema import tracking_uri
from tune_spaces.search_space import Distribution

POINTS_SHOWN = 24  # of a plan's points, printed before it runs (a thousand draws: 24 lines)


def resources_from(settings: Resources, sweep_dir: str) -> TrialResources:
    workers = settings.workers_per_trial or max(1, int(settings.gpus_per_trial) or 1)
    return TrialResources(
        workers=workers,
        cpus_per_worker=settings.cpus_per_worker,
        gpus_per_worker=settings.gpus_per_trial / workers,
        train_storage=f"{sweep_dir}/{TRAIN_FOLDER}",
        max_failures=settings.max_failures,
        in_trial_actor=workers == 1,
    )


def best_point(sweep: str) -> dict[str, str]:
    """(alpha, beta, gamma) of the best trial of an earlier compound-scaling sweep."""
    from pipeline.report.leaderboard import leaderboard_rows
    from pipeline.tracking.schema import open_client

    client = open_client(tracking_uri())
    rows = [row for row in leaderboard_rows(client, sweep) if row.top1]
    if not rows:
        raise InputError(f"--from-sweep {sweep}: that sweep has no trial with a result yet")
    params = client.get_run(rows[0].run_id).data.params  # rows are sorted by top-1
    if not {"alpha", "beta", "gamma"} <= params.keys():
        raise InputError(f"--from-sweep {sweep}: its best trial has no alpha/beta/gamma")
    return {key: params[key] for key in ("alpha", "beta", "gamma")}


def plan_new(config: SweepConfig) -> SweepPlan:
    """Everything a new sweep needs, checked; raises InputError before anything starts."""
    check_search(config)
    data = config.data
    if data is None and config.label == "demo":
        data = str(demo_shards())
    if data is None:
        raise InputError("--data is required: a shard folder made by `ladder shards`")
    with flag(f"--data {data}"):
        manifest = load_manifest(Path(data))
    name = config.name or f"{config.label}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = storage_root(config.storage)
    config = config.model_copy(update={
        "name": name, "data": str(Path(data).resolve()), "storage": root,
        "tracking_uri": config.tracking_uri or tracking_uri(),
    })  # fmt: skip
    trials = drawn_trials(config, DRY_RUN_DRAWS if config.search.algorithm == PROPOSED else None)
    largest = max(trial.model.resolution for trial in trials)
    if warning := upsampling_warning(manifest, largest):
        print(f"ladder sweep: {warning}", file=sys.stderr)
    if sweep_exists(root, name):
        raise InputError(
            f"sweep {name!r} already exists in {root}: --resume {name}, or a new --name"
        )
    search = config.search
    return SweepPlan(
        name=name,
        space=config.label,
        overrides={"search": search.algorithm, "samples": search.samples, "seeds": config.seeds},
        experiment=config.experiment or name,
        storage=root,
        resources=resources_from(config.resources, f"{root}/{name}"),
        scheduler=config.scheduler.name,
        max_concurrent=config.resources.max_concurrent,
        param_space=saved_param_space(config, trials, config.data),
        tracking_uri=config.tracking_uri,
        config=config.to_dict(),
        max_epochs=longest(config, trials),
    )


def longest(config: SweepConfig, trials: list) -> int:
    """The most epochs a trial trains (ASHA's max_t): the drawn trials', or where a
    searcher proposes them, the top of the epochs' range."""
    epochs = config.space.recipe.get("epochs")
    if config.search.algorithm == PROPOSED and isinstance(epochs, Distribution):
        return int(max(epochs.bounds))
    return max(trial.recipe.epochs for trial in trials)


@contextlib.contextmanager
def flag(name: str) -> Iterator[None]:
    """Name the flag in an InputError the library raised about its value."""
    try:
        yield
    except InputError as error:
        raise InputError(f"{name}: {error}") from None


def print_grid(plan: SweepPlan) -> None:
    """The trials about to run (each point once, its seeds counted), with counted MACs
    relative to the base model where known."""
    trials = plan.trials()
    config = plan.sweep_config
    if not trials:  # a searcher proposes them as results come in
        print(f"sweep {plan.name}: {config.search.samples * config.seeds} trials proposed by "
              f"{config.search.algorithm} over space {plan.space}")  # fmt: skip
        return
    seeds = sorted({trial.seed for trial in trials})
    points = [trial for trial in trials if trial.seed == trials[0].seed]
    searched = config is not None and config.search.algorithm != "grid"
    how = f"{config.search.algorithm} search over " if searched else ""
    kind = "points" if plan.varied_recipe_keys else "models"
    each = f" ({len(points)} {kind} x seeds {seeds[0]}..{seeds[-1]})" if len(seeds) > 1 else ""
    print(f"sweep {plan.name}: {len(trials)} trials of {how}space {plan.space}{each}")
    for trial in points[:POINTS_SHOWN]:
        ratio = f"  MACs {trial.model.macs_ratio:.2f}x base" if trial.model.macs_ratio else ""
        print(f"  {point_name(plan, trial):40s}{ratio}")
    if len(points) > POINTS_SHOWN:
        print(f"  ... and {len(points) - POINTS_SHOWN} more")
    sys.stdout.flush()


def priced(plan: SweepPlan, dry_run: bool, budget_hours: float | None) -> Price:
    """The plan's price (a few models probed in this process), within `budget_hours`."""
    price = price_of(plan)
    if dry_run:
        print_estimate(price, local_slots(plan), plan, "this machine's CPUs")
    check_budget(price, budget_hours)
    return price


def print_estimate(price: Price, slots: int, plan: SweepPlan, fit: str) -> None:
    source = "--max-concurrent" if plan.max_concurrent else fit
    print(format_estimate(price, slots, source))
    sys.stdout.flush()


def dry_run(config: SweepConfig, budget_hours: float | None = None) -> SweepPlan:
    """Plan `config`, print its trials and price, start nothing; the plan."""
    plan = plan_new(config)
    print_grid(plan)
    priced(plan, True, budget_hours)
    return plan
