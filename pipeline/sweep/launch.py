"""`ladder sweep`: a search space as Ray Tune trials, tracked in MLflow, resumable.

The pieces, as in Ray's Lightning examples: the trainable (`pipeline.sweep.trial.run_trial`),
the search space and searcher (`pipeline.sweep.search`), and the run config built here.
Every input is checked before Ray starts (`pipeline.sweep.planning`), so bad input
launches nothing.

A sweep lives in `<storage>/<name>/`: Tune's experiment state, the plan
(`pipeline.sweep.plan`, what `--resume` needs to rebuild the trainable), each trial's folder
(a one-worker trial's checkpoints in it), and the Ray Train runs of DDP trials with their
checkpoints under `train/`. `--storage` must be reachable from every node: a shared path or a
URI such as `s3://bucket/sweeps` on a cluster.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import ray
from ray import tune

from lightning_modules.errors import InputError
from pipeline.sweep import DEFAULT_STORAGE, planning
from pipeline.sweep.config import Scheduler, SweepConfig
from pipeline.sweep.console import EtaCallback, TrialTable, quiet_driver, verbose
from pipeline.sweep.plan import (
    SweepPlan,
    TrialResources,
    load_plan,
    storage_root,
    trial_folder,
)
from pipeline.sweep.ray_cluster import (
    check_cluster,
    connect_ray,
    state_api_problem,
    warn_if_storage_is_local,
)
from pipeline.sweep.search import (
    PROPOSED,
    num_samples,
    scheduler,
    searcher,
    tune_param_space,
)
from pipeline.sweep.trial import METRIC, MODE, failure_line, run_trial
from pipeline.tracking.schema import check_reachable
from pipeline.tracking.sweep_journal import SweepSending, print_board
from pipeline.tracking.sweep_tracker import TrackingCallback, trial_name

TRIAL_ACTOR_MEMORY = 1024**3  # bytes: a trial actor holds torch and Ray imported, ~0.9 GB


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


def run_sweep(
    config: SweepConfig,
    dry_run: bool = False,
    budget_hours: float | None = None,
    verbose_output: bool = False,
) -> int:
    """Plan `config`, price it, and run it to the end (`dry_run`: print the plan and its
    price, run nothing); 0 when every trial finished. The Python API of `ladder sweep`."""
    if dry_run:
        planning.dry_run(config, budget_hours)
        return 0
    plan = planning.plan_new(config)
    price_now = lambda: planning.priced(plan, False, budget_hours)  # noqa: E731
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
    planning.print_grid(plan)
    quiet_driver(verbose_output, local_ray=not os.environ.get("RAY_ADDRESS"))
    check_cluster(os.environ.get("RAY_ADDRESS"))  # before the price's probes: a bad token
    price = price_now() if price_now else None
    with ThreadPoolExecutor(1, thread_name_prefix="sweep-setup") as setup:
        # MLflow's client and journal (imports, seconds) while this thread waits on Ray's
        # processes to start
        sending = setup.submit(SweepSending, plan)
        started_here = connect_ray(
            os.environ.get("RAY_ADDRESS"), dashboard=not plan.resources.in_trial_actor
        )
        tracking = sending.result()
    warn_if_storage_is_local(plan.storage)

    if price is None:  # resumed: Tune's state, the searcher's study included
        tuner = tune.Tuner.restore(
            plan.folder, trainable=trainable(plan), param_space=param_space(plan),
            resume_unfinished=True, restart_errored=True,
        )  # fmt: skip
    else:
        plan.save()
        planning.print_estimate(price, max_concurrent(plan), plan, "the cluster's CPUs/GPUs")
        tuner = build_tuner(plan, [EtaCallback(price)])
    tracking.begin()  # a journal left by a killed driver is sent first
    results = tuner.fit()
    # the Ray this call started stops while the leaderboard and charts are made
    stopping = threading.Thread(target=ray.shutdown if started_here else lambda: None)
    stopping.start()
    try:
        failed = report_failures(plan, results)
        if not tracking.finish():  # the server is away: the journal keeps the rest
            return 1 if failed else 0
        status = print_board(plan, tracking.replay.rows)
        if register_as:
            from pipeline.models.export import register_best

            register_best(plan.experiment, plan.storage, register_as)
        return status
    finally:
        stopping.join()
