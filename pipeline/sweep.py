"""`ladder sweep`: a search space as Ray Tune trials, tracked in MLflow, resumable.

The pieces, as in Ray's Lightning examples: the trainable (`pipeline.trial.run_trial`),
the search space (`tune_spaces.<name>.space()`), and the run config built here. Every
input is checked before Ray starts, so bad input launches nothing.

A sweep lives in `<storage>/<name>/`: Tune's experiment state, `ladder_sweep.json` (what
`--resume` needs to rebuild the trainable), the Ray Train runs with their checkpoints
under `train/`. `--storage` must be reachable from every node: a shared
path or a URI such as `s3://bucket/sweeps` on a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

import tune_spaces
from lightning_modules.data import load_manifest
from pipeline.errors import UsageError
from pipeline.ray_cluster import connect_ray, state_api_problem, warn_if_storage_is_local
from pipeline.tracking import SweepTracker, check_reachable, tracking_uri
from pipeline.trial import METRIC, MODE, TrialResources, run_trial, trial_name

SWEEP_FILE = "ladder_sweep.json"
DEFAULT_STORAGE = "ray_results"
TRIAL_ACTOR_MEMORY = 1024**3  # bytes: a trial actor holds torch and Ray imported, ~0.9 GB


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", help=f"search space: {', '.join(tune_spaces.SPACES)}")
    parser.add_argument("--data", type=Path, help="shard folder (ladder shards), on every node")
    parser.add_argument("--name", help="sweep name (default: SPACE-YYYYmmdd-HHMMSS)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the sweep name)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (the space's default)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0)
    parser.add_argument(
        "--workers-per-trial", type=int, help="DDP workers per trial (default: 1, or one per GPU)"
    )
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument(
        "--max-concurrent", type=int, default=0, help="trials at once (default: what fits)"
    )
    parser.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo")
    parser.add_argument("--max-failures", type=int, default=2, help="restarts per trial")
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help="results and checkpoints: a path or URI"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    parser.add_argument(
        "--from-sweep", metavar="NAME", help="efficientnet_family: use NAME's best point"
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="NAME",
        help="continue a sweep (default: the latest one in --storage)",
    )


# ------------------------------------------------------------------ planning (no Ray yet)


def storage_root(storage: str) -> str:
    """Local paths absolute (trials run in other working directories); URIs as they are."""
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def parse_sets(pairs: list[str]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair!r}: expected KEY=VALUE")
        overrides[key.strip()] = value.strip()
    return overrides


def resources_from(args: argparse.Namespace, sweep_dir: str) -> TrialResources:
    workers = args.workers_per_trial or max(1, int(args.gpus_per_trial) or 1)
    if workers < 1 or args.gpus_per_trial < 0 or args.cpus_per_worker <= 0:
        raise UsageError(
            "--workers-per-trial, --cpus-per-worker and --gpus-per-trial: expected > 0"
        )
    return TrialResources(
        workers=workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_trial / workers,
        train_storage=f"{sweep_dir}/train",
        max_failures=args.max_failures,
    )


def best_point(sweep: str) -> dict[str, str]:
    """(alpha, beta, gamma) of the best trial of an earlier compound-scaling sweep."""
    from pipeline.leaderboard import leaderboard_rows
    from pipeline.tracking import open_client

    rows = [row for row in leaderboard_rows(open_client(tracking_uri()), sweep) if row.top1]
    if not rows:
        raise UsageError(f"--from-sweep {sweep}: that sweep has no trial with a result yet")
    run = open_client(tracking_uri()).get_run(rows[0].run_id)  # rows are sorted by top-1
    params = run.data.params
    if not {"alpha", "beta", "gamma"} <= params.keys():
        raise UsageError(f"--from-sweep {sweep}: its best trial has no alpha/beta/gamma")
    return {key: params[key] for key in ("alpha", "beta", "gamma")}


def plan_new(args: argparse.Namespace) -> dict[str, Any]:
    """Everything a new sweep needs, checked; raises UsageError before anything starts."""
    if not args.space:
        raise UsageError(f"--space is required; valid spaces: {', '.join(tune_spaces.SPACES)}")
    try:
        module = tune_spaces.load(args.space)
    except ValueError as error:
        raise UsageError(f"--space: {error}") from None
    overrides = parse_sets(args.set)
    if args.epochs is not None:
        overrides["epochs"] = str(args.epochs)
    if args.from_sweep:
        if args.space != "efficientnet_family":
            raise UsageError("--from-sweep only goes with --space efficientnet_family")
        overrides.update(best_point(args.from_sweep))
    if args.data is None:
        raise UsageError("--data is required: a shard folder made by `ladder shards`")
    try:
        load_manifest(args.data)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--data {args.data}: {error}") from None
    try:
        param_space = module.space(**overrides)
    except ValueError as error:
        raise UsageError(f"--space {args.space}: {error}") from None
    name = args.name or f"{args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
    root = storage_root(args.storage)
    if sweep_exists(root, name):
        raise UsageError(
            f"sweep {name!r} already exists in {root}: --resume {name}, or a new --name"
        )
    return {
        "name": name,
        "space": args.space,
        "overrides": overrides,
        "experiment": args.experiment or name,
        "storage": root,
        "resources": asdict(resources_from(args, f"{root}/{name}")),
        "scheduler": args.scheduler,
        "max_concurrent": args.max_concurrent,
        "param_space": {**param_space, "data": str(args.data.resolve())},
        "tracking_uri": tracking_uri(),
    }


def _filesystem(root: str) -> tuple[pyarrow.fs.FileSystem, str]:
    return pyarrow.fs.FileSystem.from_uri(root)


def sweep_exists(root: str, name: str) -> bool:
    fs, path = _filesystem(root)
    return fs.get_file_info(f"{path}/{name}/{SWEEP_FILE}").type != pyarrow.fs.FileType.NotFound


def save_plan(plan: dict[str, Any]) -> None:
    fs, path = _filesystem(plan["storage"])
    fs.create_dir(f"{path}/{plan['name']}", recursive=True)
    with fs.open_output_stream(f"{path}/{plan['name']}/{SWEEP_FILE}") as out:
        out.write(json.dumps(plan, indent=2).encode())


def load_plan(root: str, name: str) -> dict[str, Any]:
    """The saved plan of sweep `name` ("latest": the most recently started one in `root`)."""
    fs, path = _filesystem(root)
    if name == "latest":
        found = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
        folders = [info for info in found if info.type == pyarrow.fs.FileType.Directory]
        # The plan file's time, not the folder's: S3 "folders" have none.
        plans = [fs.get_file_info(f"{info.path}/{SWEEP_FILE}") for info in folders]
        plans = [plan for plan in plans if plan.type == pyarrow.fs.FileType.File]
        if not plans:
            raise UsageError(f"--resume: no sweep in {root} to resume")
        name = max(plans, key=lambda plan: plan.mtime_ns or 0).path.split("/")[-2]
    if not sweep_exists(root, name):
        raise UsageError(f"--resume {name}: no such sweep in {root}")
    with fs.open_input_stream(f"{path}/{name}/{SWEEP_FILE}") as stream:
        return json.loads(stream.read())


def print_grid(plan: dict[str, Any]) -> None:
    """The trials about to run, with counted MACs relative to the base model where known."""
    models = tune_spaces.models_of(plan["param_space"])
    print(f"sweep {plan['name']}: {len(models)} trials of space {plan['space']}")
    for model in models:
        ratio = f"  MACs {model['macs_ratio']:.2f}x base" if "macs_ratio" in model else ""
        print(f"  {trial_name({'model': model}):40s}{ratio}")
    sys.stdout.flush()


# ------------------------------------------------------------------ running


def max_concurrent(plan: dict[str, Any]) -> int:
    """Trials that fit the cluster at once (the user's --max-concurrent wins).

    A trial's Tune actor holds almost nothing; its Train workers reserve the real CPUs and
    GPUs outside Tune's accounting, so Tune must be told how many trials fit, or it would
    start them all and their workers would wait on each other forever.
    """

    if plan["max_concurrent"]:
        return plan["max_concurrent"]
    res, cluster = plan["resources"], ray.cluster_resources()
    fits = cluster.get("CPU", 0) // (res["workers"] * res["cpus_per_worker"])
    if res["gpus_per_worker"]:
        fits = min(fits, cluster.get("GPU", 0) // (res["workers"] * res["gpus_per_worker"]))
    if fits < 1:
        raise UsageError(
            f"one trial needs {res['workers']} workers x ({res['cpus_per_worker']} CPU, "
            f"{res['gpus_per_worker']} GPU) but the cluster has {ray.cluster_resources()}"
        )
    return int(fits)


def trainable(plan: dict[str, Any]):

    if plan["scheduler"] == "asha" and (problem := state_api_problem()):
        raise UsageError(
            "--scheduler asha needs Ray's State API (the dashboard of ray[default]; a "
            "cluster's head started with --include-dashboard=true), through which Ray Train "
            f"frees the CPUs of a trial that ASHA stops; on the head node it fails: {problem}"
        )
    resources = TrialResources(**plan["resources"])
    # The trial actor only waits on its Train job, so it reserves no CPU: even a sliver
    # (0.01) leaves a node 1.99 of 2 CPUs, one worker short, and the trials then run one
    # at a time. Tune needs a non-empty reservation: the memory the actor does hold.
    return tune.with_resources(
        tune.with_parameters(run_trial, resources=resources),
        {"CPU": 0, "memory": TRIAL_ACTOR_MEMORY},
    )


def build_tuner(plan: dict[str, Any]):

    epochs = plan["param_space"]["epochs"]
    scheduler = (
        # stop_last_trials=False: a trial that reaches max_t ends as under FIFO, by its
        # function returning once Ray Train has shut its workers down; only the trials ASHA
        # stops early are killed; Ray Train's cleaner frees their CPUs (`state_api_problem`).
        ASHAScheduler(
            time_attr="epoch",
            max_t=epochs,
            grace_period=1,
            reduction_factor=2,
            stop_last_trials=False,
        )
        if plan["scheduler"] == "asha"
        else FIFOScheduler()
    )
    return tune.Tuner(
        trainable(plan),
        param_space=plan["param_space"],
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=MODE,
            scheduler=scheduler,
            max_concurrent_trials=max_concurrent(plan),
            trial_name_creator=lambda trial: trial_name(trial.config),
            trial_dirname_creator=lambda trial: f"{trial_name(trial.config)}_{trial.trial_id}",
        ),
        run_config=tune.RunConfig(
            name=plan["name"],
            storage_path=plan["storage"],
            callbacks=[MlflowLogger(plan)],
            failure_config=tune.FailureConfig(max_failures=plan["resources"]["max_failures"]),
            verbose=1,  # Ray's trial table every ~30 s, and every trial's end
        ),
    )


def make_tracker(plan: dict[str, Any]) -> SweepTracker:
    settings = {**plan["overrides"], "data": plan["param_space"]["data"]}
    tracker = SweepTracker(
        plan["tracking_uri"], plan["experiment"], plan["name"], plan["space"], settings
    )
    tracker.start()
    return tracker


class MlflowLogger(tune.Callback):
    """Logs every trial result from the driver to MLflow (no trial talks to the store).

    Tune pickles its callbacks with the experiment and restores them on `--resume`, so
    the callback keeps only the plan and opens its tracker lazily.
    """

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self._tracker: SweepTracker | None = None
        self._started: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["plan"])

    @property
    def tracker(self) -> SweepTracker:
        if self._tracker is None:
            self._tracker = make_tracker(self.plan)
        return self._tracker

    def _ensure_started(self, trial) -> None:
        if trial.trial_id not in self._started:
            self.tracker.trial_started(trial.trial_id, trial_name(trial.config), trial.config)
            self._started.add(trial.trial_id)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._started.discard(trial.trial_id)  # a restart sets the run back to running
        self._ensure_started(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._ensure_started(trial)
        if "epoch" in result:
            self.tracker.epoch_result(trial.trial_id, int(result["epoch"]), result)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._ensure_started(trial)
        self.tracker.trial_ended(trial.trial_id, "finished")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ensure_started(trial)
        self.tracker.trial_ended(trial.trial_id, "error")


def report_failures(results: tune.ResultGrid) -> None:
    """One line per failed trial with its cause, where Ray's tracebacks would bury it."""
    for result in results:
        if result.error is not None:
            print(
                f"ladder sweep: trial {trial_name(result.config)} failed: "
                f"{raised_line(result.error)}",
                file=sys.stderr,
            )


def raised_line(error: BaseException) -> str:
    """The last `SomeError: message` line of an error's text: the worker's own exception,
    whose traceback Ray's wrappers (RayTaskError, WorkerGroupError) quote as text."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
    return raised[-1] if raised else (lines[0] if lines else type(error).__name__)


def finish(plan: dict[str, Any]) -> int:
    """Leaderboard and charts as artifacts of the sweep's parent run; print the board."""
    from pipeline.charts import write_charts
    from pipeline.leaderboard import format_rows, leaderboard_rows, write_leaderboard

    tracker = make_tracker(plan)
    rows = leaderboard_rows(tracker.client, plan["experiment"])
    write_leaderboard(tracker, tracker.parent_run_id, rows)
    with tempfile.TemporaryDirectory() as charts:  # kept as artifacts of the parent run
        for path in write_charts(rows, Path(charts)):
            tracker.log_artifact(path, "charts")
    tracker.end()
    print(format_rows(rows, "table"))
    unfinished = [row for row in rows if row.status != "finished"]
    if unfinished:
        print(
            f"{len(unfinished)} trial(s) did not finish: `ladder sweep --resume {plan['name']}`",
            file=sys.stderr,
        )
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    plan = load_plan(storage_root(args.storage), args.resume) if args.resume else plan_new(args)
    check_reachable(plan["tracking_uri"])
    print_grid(plan)
    connect_ray(os.environ.get("RAY_ADDRESS"))
    warn_if_storage_is_local(plan["storage"])

    if args.resume:
        path = f"{plan['storage']}/{plan['name']}"
        tuner = tune.Tuner.restore(
            path, trainable=trainable(plan), resume_unfinished=True, restart_errored=True
        )
    else:
        save_plan(plan)
        tuner = build_tuner(plan)
    report_failures(tuner.fit())
    return finish(plan)
