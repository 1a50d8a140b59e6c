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

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

import tune_spaces
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest, upsampling_warning
from pipeline.data.demo import demo_shards
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
from pipeline.sweep.trial import METRIC, MODE, failure_line, run_trial
from pipeline.tracking.schema import check_reachable, tracking_uri
from pipeline.tracking.sweep_journal import SweepSending, print_board
from pipeline.tracking.sweep_tracker import TrackingCallback, trial_name

TRIAL_ACTOR_MEMORY = 1024**3  # bytes: a trial actor holds torch and Ray imported, ~0.9 GB


# ------------------------------------------------------------------ planning (no Ray yet)


def parse_sets(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set {pair!r}: expected KEY=VALUE")
        overrides[key.strip()] = value.strip()
    return overrides


def seeds_from(text: str | None) -> int:
    """`--seeds K`: a whole number of trainings per model, 1 to `tune_spaces.MAX_SEEDS`."""
    if text is None:
        return 1
    if not text.strip().isdigit() or not 1 <= int(text) <= tune_spaces.MAX_SEEDS:
        raise InputError(
            f"--seeds {text!r}: expected a whole number from 1 to {tune_spaces.MAX_SEEDS}"
        )
    return int(text)


def resources_from(args: argparse.Namespace, sweep_dir: str) -> TrialResources:
    workers = args.workers_per_trial or max(1, int(args.gpus_per_trial) or 1)
    if workers < 1 or args.gpus_per_trial < 0 or args.cpus_per_worker <= 0:
        raise InputError(
            "--workers-per-trial, --cpus-per-worker and --gpus-per-trial: expected > 0"
        )
    return TrialResources(
        workers=workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_trial / workers,
        train_storage=f"{sweep_dir}/{TRAIN_FOLDER}",
        max_failures=args.max_failures,
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


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    """The settings the user changed: `--recipe`, `--set`, `--epochs` and `--from-sweep`'s
    point."""
    overrides: dict[str, object] = parse_sets(args.set)
    if args.recipe is not None:
        overrides["recipe"] = args.recipe
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.from_sweep:
        if args.space != "efficientnet_family":
            raise InputError("--from-sweep only goes with --space efficientnet_family")
        overrides.update(best_point(args.from_sweep))
    return overrides


def plan_new(args: argparse.Namespace) -> SweepPlan:
    """Everything a new sweep needs, checked; raises InputError before anything starts."""
    if not args.space:
        raise InputError(f"--space is required; valid spaces: {', '.join(tune_spaces.SPACES)}")
    with flag("--space"):
        module = tune_spaces.load(args.space)
    overrides = overrides_from(args)
    seeds = seeds_from(args.seeds)
    if args.data is None and args.space == "demo":
        args.data = demo_shards()
    if args.data is None:
        raise InputError("--data is required: a shard folder made by `ladder shards`")
    with flag(f"--data {args.data}"):
        manifest = load_manifest(args.data)
    with flag(f"--space {args.space}"):
        param_space = tune_spaces.with_seeds(module.space(**overrides), seeds)
    largest = max(model.resolution for model in tune_spaces.models_of(param_space))
    if warning := upsampling_warning(manifest, largest):
        print(f"ladder sweep: {warning}", file=sys.stderr)
    name = args.name or f"{args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = storage_root(args.storage)
    if sweep_exists(root, name):
        raise InputError(
            f"sweep {name!r} already exists in {root}: --resume {name}, or a new --name"
        )
    return SweepPlan(
        name=name,
        space=args.space,
        overrides=overrides,
        experiment=args.experiment or name,
        storage=root,
        resources=resources_from(args, f"{root}/{name}"),
        scheduler=args.scheduler,
        max_concurrent=args.max_concurrent,
        param_space={**param_space, "data": str(args.data.resolve())},
        tracking_uri=tracking_uri(),
    )


@contextlib.contextmanager
def flag(name: str) -> Iterator[None]:
    """Name the flag in an InputError the library raised about its value."""
    try:
        yield
    except InputError as error:
        raise InputError(f"{name}: {error}") from None


def print_grid(plan: SweepPlan) -> None:
    """The trials about to run, with counted MACs relative to the base model where known."""
    models = tune_spaces.models_of(plan.param_space)
    seeds = tune_spaces.seeds_of(plan.param_space)
    each = f" ({len(models)} models x seeds {seeds[0]}..{seeds[-1]})" if len(seeds) > 1 else ""
    print(f"sweep {plan.name}: {len(models) * len(seeds)} trials of space {plan.space}{each}")
    for model in models:
        ratio = f"  MACs {model.macs_ratio:.2f}x base" if model.macs_ratio else ""
        print(f"  {model.name:40s}{ratio}")
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


def build_tuner(plan: SweepPlan, extra_callbacks: Sequence[tune.Callback] = ()) -> tune.Tuner:
    scheduler = (
        # stop_last_trials=False: a trial that reaches max_t ends as under FIFO, by its
        # function returning; only the trials ASHA stops early are stopped: a one-worker
        # trial at its next report, freeing its actor's CPUs; a DDP trial's Train workers
        # are freed by Ray Train's cleaner (`state_api_problem`).
        ASHAScheduler(
            time_attr="epoch",
            max_t=plan.epochs,
            grace_period=1,
            reduction_factor=2,
            stop_last_trials=False,
        )
        if plan.scheduler == "asha"
        else FIFOScheduler()
    )
    return tune.Tuner(
        trainable(plan),
        param_space=plan.param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            scheduler=scheduler,
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


def priced(plan: SweepPlan, args: argparse.Namespace) -> Price:
    """The plan's price (models probed in this process), within `--budget-hours`."""
    price = price_of(plan)
    if args.dry_run:
        print_estimate(price, local_slots(plan), plan, "this machine's CPUs")
    check_budget(price, args.budget_hours)
    return price


def print_estimate(price: Price, slots: int, plan: SweepPlan, fit: str) -> None:
    source = "--max-concurrent" if plan.max_concurrent else fit
    print(format_estimate(price, slots, source))
    sys.stdout.flush()


def main(args: argparse.Namespace) -> int:
    if args.resume and (args.dry_run or args.budget_hours is not None):
        raise InputError("--dry-run and --budget-hours price a new sweep: not with --resume")
    if args.resume and args.seeds is not None:
        raise InputError("--seeds plans a new sweep: not with --resume (it keeps the sweep's)")
    plan = load_plan(storage_root(args.storage), args.resume) if args.resume else plan_new(args)
    if args.dry_run:
        print_grid(plan)
        priced(plan, args)
        return 0
    check_reachable(plan.tracking_uri)
    print_grid(plan)
    quiet_driver(args.verbose, local_ray=not os.environ.get("RAY_ADDRESS"))
    check_cluster(os.environ.get("RAY_ADDRESS"))  # before the price's probes: a bad token
    price = None if args.resume else priced(plan, args)
    connect_ray(os.environ.get("RAY_ADDRESS"))
    warn_if_storage_is_local(plan.storage)

    if args.resume:
        tuner = tune.Tuner.restore(
            plan.folder, trainable=trainable(plan), resume_unfinished=True, restart_errored=True
        )
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
    if args.register_best:
        from pipeline.models.export import register_best

        register_best(plan.experiment, plan.storage, args.register_best)
    return status
