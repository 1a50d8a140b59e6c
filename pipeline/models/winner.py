"""Which trial to take home and where its weights are: MLflow for the trial, Ray for the file.

MLflow knows a sweep's trials (the schema of `pipeline.tracking.schema`): a trial run's
`ladder.sweep` and `ladder.trial_id` tags, its params (the model spec, `data`) and
`best/epoch`, the epoch with the best `val/acc1`. It does not know where the weights are:
they live in the sweep's storage (`--storage`, a path or s3:// URI), where a checkpoint
manager kept the best by `val/acc1` (`pipeline.sweep.trial`), each with the metrics of its
epoch: Tune's, in the trial's folder (`<storage>/<sweep>/<trial>_<trial id>/`), for a
one-worker trial; Ray Train's, in the trial's Train run
(`<storage>/<sweep>/train/train-<trial id>/`), for a DDP trial. `ray.tune.Result` and
`ray.train.Result` read them from any storage Ray supports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.metric_names import BEST_EPOCH, BEST_VAL_ACC1, VAL_ACC1

HAS_MODEL = ("finished", "stopped")  # ladder.status of trials that ended with their weights


def trial_runs(client: Any, experiment: Any) -> list[Any]:
    from pipeline.tracking.schema import search_all_runs

    return search_all_runs(client, [experiment.experiment_id], {"ladder.role": "trial"})


def find_trial(client: Any, experiment: Any, wanted: str) -> Any:
    """The trial run called `wanted`: its name, Ray trial id or MLflow run id."""
    runs = trial_runs(client, experiment)
    found = [
        run
        for run in runs
        if wanted in (run.info.run_name, run.info.run_id, run.data.tags.get("ladder.trial_id"))
    ]
    if len(found) == 1:
        return found[0]
    names = ", ".join(sorted(run.info.run_name for run in runs)) or "none"
    if found:
        raise InputError(f"trial {wanted!r} names {len(found)} runs: give its trial id instead")
    raise InputError(
        f"trial {wanted!r}: no such trial in sweep {experiment.name!r}; its trials: {names}"
    )


def best_trial(client: Any, experiment: Any) -> Any:
    """The run of the leaderboard's best trial that ended with its weights (finished, or
    stopped early by the scheduler): the top row's, or the next one down."""
    from pipeline.report.leaderboard import leaderboard_rows

    rows = leaderboard_rows(client, experiment.name)
    for row in rows:
        run = client.get_run(row.run_id)
        if row.top1 is not None and run.data.tags.get("ladder.status") in HAS_MODEL:
            return run
    statuses = ", ".join(sorted({row.status for row in rows})) or "no trials"
    raise InputError(
        f"sweep {experiment.name!r} has no finished trial yet ({len(rows)} trial(s): "
        f"{statuses}); wait for it, or `ladder sweep --resume`"
    )


def best_epoch(run: Any) -> int:
    """The epoch whose `val/acc1` the leaderboard shows for this trial."""
    if BEST_EPOCH not in run.data.metrics:
        raise InputError(f"trial {run.info.run_name!r} has no finished epoch: nothing to export")
    return int(run.data.metrics[BEST_EPOCH])


def checkpoints_path(run: Any, storage: str) -> tuple[str, bool]:
    """Where the trial's checkpoints live in `storage`, wherever the sweep first ran (a
    storage copied or moved since is read where it is now), and whether Tune kept them
    (a one-worker trial) rather than Ray Train."""
    from pipeline.sweep.plan import TRAIN_FOLDER, load_plan, storage_root, sweep_exists
    from pipeline.sweep.trial import train_run_name

    sweep, root = run.data.tags["ladder.sweep"], storage_root(storage)
    if not sweep_exists(root, sweep):
        raise InputError(
            f"--storage {storage}: no sweep {sweep!r} there; give the sweep's --storage"
        )
    trial_id = run.data.tags["ladder.trial_id"]
    if load_plan(root, sweep).resources.in_trial_actor:
        return f"{root}/{sweep}/{trial_folder_of(root, sweep, trial_id)}", True
    return f"{root}/{sweep}/{TRAIN_FOLDER}/{train_run_name(trial_id)}", False


def trial_folder_of(root: str, sweep: str, trial_id: str) -> str:
    """The trial's folder (`pipeline.sweep.plan.trial_folder`), found by its trial id."""
    import pyarrow.fs

    fs, path = pyarrow.fs.FileSystem.from_uri(root)
    found = fs.get_file_info(pyarrow.fs.FileSelector(f"{path}/{sweep}"))
    names = [info.base_name for info in found if info.type == pyarrow.fs.FileType.Directory]
    folders = [name for name in names if name.endswith(f"_{trial_id}")]
    if len(folders) != 1:
        raise InputError(f"{root}/{sweep}: no folder of trial {trial_id} there")
    return folders[0]


def kept_checkpoints(path: str, by_tune: bool) -> list[tuple[Any, dict[str, Any]]]:
    """The (checkpoint, metrics) pairs Tune or Ray Train kept for the trial at `path`."""
    import ray.train
    import ray.tune

    # Result.from_path logs at INFO that it found a snapshot: the expected case here
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    try:
        result = (ray.tune.Result if by_tune else ray.train.Result).from_path(path)
    except RuntimeError as error:
        raise InputError(f"{path}: no Ray run with checkpoints there ({error})") from None
    return result.best_checkpoints


def best_checkpoint(run: Any, storage: str) -> tuple[Any, dict[str, Any]]:
    """The checkpoint of the trial's best epoch and its metrics. Where Ray kept another
    epoch of the same top-1 instead (a tie it broke the other way), that one: the same
    number either way."""
    epoch, (path, by_tune) = best_epoch(run), checkpoints_path(run, storage)
    kept = kept_checkpoints(path, by_tune)
    top1 = run.data.metrics.get(BEST_VAL_ACC1)
    for wanted in (lambda m: int(m["epoch"]) == epoch, lambda m: m.get(VAL_ACC1) == top1):
        for checkpoint, metrics in kept:
            if wanted(metrics):
                return checkpoint, metrics
    epochs = sorted(int(metrics["epoch"]) for _, metrics in kept)
    raise InputError(
        f"{path}: epoch {epoch}'s checkpoint (the best val/acc1) is not there; Ray kept {epochs}"
    )


def load_checkpoint(checkpoint: Any, run: Any, folder: Path) -> dict[str, Any]:
    """The Lightning checkpoint's contents, fetched into `folder`; InputError when it holds
    another model than the trial trained (a storage that is not this sweep's)."""
    import torch

    from pipeline.sweep.plan import CHECKPOINT_FILE

    local = Path(checkpoint.to_directory(str(folder))) / CHECKPOINT_FILE
    contents = torch.load(local, map_location="cpu", weights_only=True)
    model = contents["hyper_parameters"]["model"]
    params = run.data.params
    differs = [key for key, value in model.items() if params.get(key) != str(value)]
    if differs:
        theirs = ", ".join(f"{key}={params.get(key)}" for key in differs)
        ours = ", ".join(f"{key}={model[key]}" for key in differs)
        raise InputError(
            f"{checkpoint.path}: a checkpoint of {ours}, but trial {run.info.run_name!r} "
            f"trained {theirs}; is --storage this sweep's?"
        )
    return contents
