"""`ladder sweep`: a search space as Ray Tune trials, tracked in MLflow, resumable.

The pieces, as in Ray's Lightning examples: the trainable (`pipeline.sweep.trial.run_trial`),
the search space (`tune_spaces.<name>.space()`), and the run config built here. Every
input is checked before Ray starts, so bad input launches nothing.

A sweep lives in `<storage>/<name>/`: Tune's experiment state, the plan
(`pipeline.sweep.plan`, what `--resume` needs to rebuild the trainable), each trial's folder
(a one-worker trial's checkpoints in it), and the Ray Train runs of DDP trials with their
checkpoints under `train/`. `--storage` must be reachable from every node: a shared path or a
URI such as `s3://bucket/sweeps` on a cluster.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import ray
from ray import tune

from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest, upsampling_warning
from pipeline.data.demo import demo_shards
from pipeline.sweep import DEFAULT_STORAGE
from pipeline.sweep.config import Resources, Scheduler, SweepConfig
from pipeline.sweep.console import TrialTable, quiet_driver, verbose
from pipeline.sweep.estimate import (
    EtaCallback,
    Price,
    check_budget,
    format_estimate,
    local_slots,
    price_of,
)
from pipeline.sweep.plan import (
    TRAIN_FOLDER,
    SweepPlan,
    TrialResources,
    load_plan,
    storage_root,
    sweep_exists,
    trial_folder,
)
from pipeline.sweep.ray_cluster import (
    check_cluster,
    connect_ray,
    state_api_problem,
    warn_if_storage_is_local,
)
from pipeline.sweep.search import (
    DRY_RUN_DRAWS,
    PROPOSED,
    check_search,
    drawn_trials,
    num_samples,
    saved_param_space,
    scheduler,
    searcher,
    tune_param_space,
)
from pipeline.sweep.trial import METRIC, MODE, failure_line, run_trial
from pipeline.tracking.schema import check_reachable, tracking_uri
from pipeline.tracking.sweep_journal import SweepSending, print_board
from pipeline.tracking.sweep_tracker import TrackingCallback, point_name, trial_name

TRIAL_ACTOR_MEMORY = 1024**3  # bytes: a trial actor holds torch and Ray imported, ~0.9 GB


# ------------------------------------------------------------------ planning (no Ray yet)


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
        max_epochs=max(trial.recipe.epochs for trial in trials),
    )


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
    for trial in points:
        ratio = f"  MACs {trial.model.macs_ratio:.2f}x base" if trial.model.macs_ratio else ""
        print(f"  {point_name(plan, trial):40s}{ratio}")
    sys.stdout.flush()


# ------------------------------------------------------------------ running


def max_concurrent(plan: SweepPlan) -> int:
    """Trials that fit the cluster at once (the user's --max-concurrent wins).

    A trial's Tune actor holds almost nothing; its Train workers reserve the real CPUs and
    GPUs outside Tune's accounting, so Tune must be told how many trials fit, or it would
    start them all and their workers would wait on each other forever.
    """
    if plan.max_concurrent:
        return plan.max_concurrent
    res, cluster = plan.resources, ray.cluster_resources()
    fits = res.trials_that_fit(cluster)
    if fits < 1:
        raise InputError(
            f"one trial needs {res.workers} workers x ({res.cpus_per_worker} CPU, "
            f"{res.gpus_per_worker} GPU) but the cluster has {cluster}"
        )
    return fits


def trainable(plan: SweepPlan):
    res = plan.resources
    if res.in_trial_actor:  # it trains there: it holds the worker's CPUs and GPUs
        gpus = {"GPU": res.gpus_per_worker} if res.gpus_per_worker else {}
        return tune.with_resources(
            tune.with_parameters(run_trial, resources=res), {"CPU": res.cpus_per_worker, **gpus}
        )
    if plan.scheduler == "asha" and (problem := state_api_problem()):
        raise InputError(
            "--scheduler asha needs Ray's State API (the dashboard of ray[default]; a "
            "cluster's head started with --include-dashboard=true), through which Ray Train "
            f"frees the CPUs of a trial that ASHA stops; on the head node it fails: {problem}"
        )
    # The trial actor only waits on its Train job, so it reserves no CPU: even a sliver
    # (0.01) leaves a node 1.99 of 2 CPUs, one worker short, and the trials then run one
    # at a time. Tune needs a non-empty reservation: the memory the actor does hold.
    return tune.with_resources(
        tune.with_parameters(run_trial, resources=res), {"CPU": 0, "memory": TRIAL_ACTOR_MEMORY}
    )


def checkpoints_kept(res: TrialResources) -> tune.CheckpointConfig:
    """A one-worker trial's checkpoints, kept by Tune as Ray Train keeps a DDP trial's
    (`pipeline.sweep.trial`): the best `checkpoints_to_keep` by val/acc1, and the latest."""
    return tune.CheckpointConfig(
        num_to_keep=res.checkpoints_to_keep,
        checkpoint_score_attribute=METRIC,
        checkpoint_score_order=MODE,
    )


def param_space(plan: SweepPlan) -> dict:
    """What Tune gets: the plan's saved param space, or a proposing searcher's domains."""
    config = plan.sweep_config
    if config is None or config.search.algorithm != PROPOSED:
        return plan.param_space
    return tune_param_space(config, [], plan.param_space["data"])


def build_tuner(plan: SweepPlan, extra_callbacks: Sequence[tune.Callback] = ()) -> tune.Tuner:
    config = plan.sweep_config  # None: a plan from before sweep files, a grid
    when = config.scheduler if config else Scheduler(name=plan.scheduler)
    return tune.Tuner(
        trainable(plan),
        param_space=param_space(plan),
        tune_config=tune.TuneConfig(
            # metric and mode are the scheduler's and the searcher's own: an Optuna study
            # of two objectives has two
            scheduler=scheduler(when, plan.epochs, METRIC, MODE),
            search_alg=searcher(config) if config else None,
            num_samples=num_samples(config) if config else 1,
            max_concurrent_trials=max_concurrent(plan),
            # a one-worker trial trains in its actor: the next trial finds Lightning, timm
            # and torch imported there (Tune's default starts a fresh actor every trial)
            reuse_actors=plan.resources.in_trial_actor,
            trial_name_creator=lambda trial: trial_name(plan, trial.config),
            trial_dirname_creator=lambda trial: trial_folder(
                trial_name(plan, trial.config), trial.trial_id
            ),
        ),
        run_config=tune.RunConfig(
            name=plan.name,
            storage_path=plan.storage,
            callbacks=[TrackingCallback(plan), *extra_callbacks],
            failure_config=tune.FailureConfig(max_failures=plan.resources.max_failures),
            checkpoint_config=checkpoints_kept(plan.resources),
            progress_reporter=None if verbose() else TrialTable(plan.epochs),
            verbose=1,  # the table; Tune's own (--verbose): every ~30 s, and every trial's end
        ),
    )


def report_failures(plan: SweepPlan, results: tune.ResultGrid) -> int:
    """One line per failed trial with its cause, where Ray's tracebacks would bury it."""
    failed = [result for result in results if result.error is not None]
    for result in failed:
        print(
            f"ladder sweep: trial {trial_name(plan, result.config)} failed: "
            f"{failure_line(result.error)}",
            file=sys.stderr,
        )
    return len(failed)


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


def run_sweep(
    config: SweepConfig,
    dry_run: bool = False,
    budget_hours: float | None = None,
    verbose_output: bool = False,
) -> int:
    """Plan `config`, price it, and run it to the end (`dry_run`: print the plan and its
    price, run nothing); 0 when every trial finished. The Python API of `ladder sweep`."""
    plan = plan_new(config)
    if dry_run:
        print_grid(plan)
        priced(plan, dry_run, budget_hours)
        return 0
    price_now = lambda: priced(plan, False, budget_hours)  # noqa: E731
    return _run(plan, verbose_output, price_now, config.register_best)


def resume_sweep(
    name: str = "latest",
    storage: str = DEFAULT_STORAGE,
    verbose_output: bool = False,
    register_best: str | None = None,
) -> int:
    """Continue sweep `name` ("latest": the last one started in `storage`) where it stopped."""
    return _run(load_plan(storage_root(storage), name), verbose_output, None, register_best)


def _run(plan: SweepPlan, verbose_output: bool, price_now, register_as: str | None) -> int:
    """Run or resume `plan` (resumed where `price_now`, which prices a new one, is None)."""
    check_reachable(plan.tracking_uri)
    print_grid(plan)
    quiet_driver(verbose_output, local_ray=not os.environ.get("RAY_ADDRESS"))
    check_cluster(os.environ.get("RAY_ADDRESS"))  # before the price's probes: a bad token
    price = price_now() if price_now else None
    connect_ray(os.environ.get("RAY_ADDRESS"))
    warn_if_storage_is_local(plan.storage)

    if price is None:  # resumed: Tune's state, the searcher's study included
        tuner = tune.Tuner.restore(
            plan.folder, trainable=trainable(plan), param_space=param_space(plan),
            resume_unfinished=True, restart_errored=True,
        )  # fmt: skip
    else:
        plan.save()
        print_estimate(price, max_concurrent(plan), plan, "the cluster's CPUs/GPUs")
        tuner = build_tuner(plan, [EtaCallback(price)])
    tracking = SweepSending(plan)  # a journal left by a killed driver is sent first
    tracking.begin()
    failed = report_failures(plan, tuner.fit())
    if not tracking.finish():  # the server is away: the journal keeps the rest
        return 1 if failed else 0
    status = print_board(plan, tracking.replay.rows)
    if register_as:
        from pipeline.models.export import register_best

        register_best(plan.experiment, plan.storage, register_as)
    return status
