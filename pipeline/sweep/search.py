"""A sweep file's search as Ray Tune's own pieces: the trials, the searcher, the scheduler.

grid and random: the trials are drawn here, before Ray starts (`SearchSpace.draw`, Tune's
domains, one seeded generator), so the plan knows each one: `--dry-run` prices and checks
exactly what runs, `--resume` and a re-run of the saved file get the same trials. Tune's
default `BasicVariantGenerator` then runs them as one grid over whole trial configs:

    {"trial": grid_search([{"model": ModelSpec fields, "recipe": Recipe fields}, ...]),
     "data": shard folder}

optuna: Tune's `OptunaSearch` proposes each trial from the results so far (one objective,
or top-1 against MACs for a Pareto set), over the space's Tune domains:
`{"model": ..., "recipe": ..., "data": ...}`; `seeds` repeat each proposal with Tune's
`Repeater`, whose `__trial_index__` offsets the recipe's seed. Its state is saved with
Tune's, so a resumed sweep continues the study. ASHA is Tune's `ASHAScheduler`.
"""

from __future__ import annotations

from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.specs import TrialConfig
from pipeline.sweep.config import Scheduler, SweepConfig, objectives_of
from tune_spaces.search_space import trial_of

PROPOSED = "optuna"  # the searcher that proposes trials as results come in
DRY_RUN_DRAWS = 8  # a proposing searcher's trials are priced by this many random draws


def drawn_trials(config: SweepConfig, samples: int | None = None) -> list[TrialConfig]:
    """Every trial of a grid or random search, checked, in Tune's order: each seed after
    all trials of the one before. For optuna, `samples` random draws that stand for its
    proposals (checks and the price)."""
    space = config.space
    if samples is None:
        samples = config.search.samples if config.search.algorithm == "random" else 1
    base = space.base_recipe()
    points = space.draw(samples, config.search.seed)
    trials = []
    for number, (model, recipe) in enumerate(points):
        try:
            trials.append(TrialConfig(*trial_of(model, recipe, base), config.data))
        except InputError as error:
            raise InputError(f"space, trial {number + 1} ({_shown(model)}): {error}") from None
    return [
        TrialConfig(trial.model, trial.recipe.with_overrides({"seed": trial.seed + k}), trial.data)
        for k in range(config.seeds)
        for trial in trials
    ]


def _shown(model: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in model.items())  # fmt: skip


def check_search(config: SweepConfig) -> None:
    """InputError where the search and the space do not go together."""
    search, space = config.search, config.space
    if search.algorithm == "grid" and space.distributions():
        key = next(iter(space.distributions()))
        raise InputError(f"search grid: {key} is a distribution; use search: random or optuna")
    if search.algorithm == "grid" and search.samples > 1:
        raise InputError("search.samples: a grid has no samples (search: random repeats draws)")
    if search.algorithm == PROPOSED:
        space.tune_space()  # one model entry and no grid, or InputError
        if len(search.objectives) > 1 and config.seeds > 1:
            raise InputError("seeds > 1 averages one objective: not with two objectives")
    elif search.objectives != ["top1"]:
        raise InputError(f"search.objectives {search.objectives}: only optuna searches MACs too")


def tune_param_space(config: SweepConfig, trials: list[TrialConfig], data: str) -> dict:
    """The param space Tune gets: the drawn trials as a grid, or optuna's domains."""
    if config.search.algorithm == PROPOSED:
        return {**config.space.tune_space(), "data": data}
    grid = [{"model": trial.model.to_dict(), "recipe": trial.recipe.to_dict()} for trial in trials]
    return {"trial": {"grid_search": grid}, "data": data}  # tune.grid_search(grid), no Ray


def saved_param_space(config: SweepConfig, trials: list[TrialConfig], data: str) -> dict:
    """What the plan file keeps of the param space: the drawn trials (JSON), or for
    optuna only the data (its domains are rebuilt from the sweep file)."""
    if config.search.algorithm == PROPOSED:
        return {"data": data}
    return tune_param_space(config, trials, data)


def searcher(config: SweepConfig) -> Any:
    """Tune's search algorithm: None (its grid of the drawn trials) or OptunaSearch."""
    if config.search.algorithm != PROPOSED:
        return None
    from ray.tune.search import Repeater
    from ray.tune.search.optuna import OptunaSearch

    metrics, modes = objectives_of(config.search)
    one = len(metrics) == 1
    optuna = OptunaSearch(
        metric=metrics[0] if one else metrics, mode=modes[0] if one else modes,
        seed=config.search.seed,
    )  # fmt: skip
    return Repeater(optuna, repeat=config.seeds, set_index=True) if config.seeds > 1 else optuna


def num_samples(config: SweepConfig) -> int:
    """Tune's num_samples: 1 pass over the drawn grid, or optuna's proposals x seeds."""
    return config.search.samples * config.seeds if config.search.algorithm == PROPOSED else 1


def scheduler(settings: Scheduler, epochs: int, metric: str, mode: str) -> Any:
    """Tune's FIFO, or ASHA over epochs with the file's grace period and reduction factor.

    stop_last_trials=False: a trial that reaches max_t ends as under FIFO, by its function
    returning; only the trials ASHA stops early are stopped: a one-worker trial at its next
    report, freeing its actor's CPUs; a DDP trial's Train workers are freed by Ray Train's
    cleaner (`state_api_problem`)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if settings.name != "asha":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="epoch", metric=metric, mode=mode, max_t=settings.max_epochs or epochs,
        grace_period=settings.grace_period, reduction_factor=settings.reduction_factor,
        stop_last_trials=False,
    )  # fmt: skip
