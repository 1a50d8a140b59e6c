"""Logging a sweep to MLflow from the driver, in the schema of `pipeline.tracking.schema`.

`SweepTracker` writes the runs; `TrackingCallback` is the Ray Tune callback that journals
every trial's start, results and end (`pipeline.tracking.journal`), so no trial needs a route to the
tracking store and no outage of it reaches Tune; `pipeline.tracking.sweep_journal` sends them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from lightning_modules.errors import InputError
from lightning_modules.metric_names import DIVERGED
from lightning_modules.specs import TrialConfig
from pipeline.sweep.plan import SweepPlan, trial_name
from pipeline.tracking.journal import shared_journal
from pipeline.tracking.schema import (
    EPOCH_METRICS,
    EVENT_METRICS,
    MODEL_METRICS,
    TRIAL_STATUSES,
    search_all_runs,
)
from pipeline.tracking.trial_runs import (
    TrialRecord,
    flatten_config,
    is_number,
    now_ms,
    sweep_tags,
    trial_tags,
)


class SweepTracker:
    """Logs one Ray Tune sweep to MLflow in the schema above; every method is idempotent.

    It talks to the store through its own `MlflowClient` (no global `mlflow` state), so the
    driver-side Ray callback that owns it can share a process with other sweeps. Inside
    `batched()` a run's params, metrics and tags wait for one `log_batch`.
    """

    def __init__(
        self,
        uri: str,
        experiment: str | None,
        sweep: str,
        space: str,
        settings: dict[str, Any],
    ) -> None:
        from mlflow import MlflowClient  # MLflow costs seconds to import: only when tracking

        self.client = MlflowClient(tracking_uri=uri)
        self.experiment = experiment or sweep
        self.sweep = sweep
        self.space = space
        self.settings = settings
        self.experiment_id: str | None = None
        self.parent_run_id: str | None = None
        self._trials: dict[str, TrialRecord] = {}
        self._children: dict[str, Any] | None = None  # trial id -> its run; None: not read yet
        self._held: dict[str, HeldWrites] | None = None  # run id -> writes, while batched

    def start(self) -> str:
        """Find or create the experiment and the sweep's parent run; returns the parent id."""
        if self.parent_run_id is not None:
            return self.parent_run_id
        self.experiment_id = self._experiment_id()
        tags = sweep_tags(self.sweep, self.space)
        found = search_all_runs(self.client, [self.experiment_id], sweep_tags(self.sweep))
        if found:
            run = min(found, key=lambda run: run.info.start_time)
            self.client.update_run(run.info.run_id, status="RUNNING")
            self._children = None  # read from the store when a trial first needs them
        else:
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.sweep)
            self._children = {}  # a new parent has none
        self._log_missing_params(run, self.settings)
        self.parent_run_id = run.info.run_id
        return self.parent_run_id

    def trial_started(self, trial_id: str, name: str, config: dict[str, Any]) -> str:
        """The trial's child run, created the first time, set running again on a restart."""
        parent_id = self.start()
        record = self._trials.get(trial_id) or self._find_trial(trial_id)
        if record is None:
            tags = trial_tags(self.sweep, self.space, trial_id, parent_id, config)
            run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
            record = TrialRecord(run.info.run_id)
            self._known_children()[trial_id] = run
        else:
            run = self.client.get_run(record.run_id)
            self._set_status(record.run_id, "running")
        self._log_missing_params(run, flatten_config(config))
        self._trials[trial_id] = record
        return record.run_id

    def epoch_result(
        self, trial_id: str, epoch: int, metrics: dict[str, Any], timestamp: int | None = None
    ) -> None:
        """Log one epoch's metrics at step `epoch` and refresh the summaries.

        Keys outside the schema and non-numeric values are ignored (a Ray result carries
        many of both); a metric that already has this step is not logged twice.
        `timestamp` (ms) is when the epoch was reported, if it is sent later.
        """
        record = self._record(trial_id)
        batch = record.epoch_metrics(epoch, metrics, timestamp or now_ms())
        self._log(record.run_id, metrics=batch)

    def trial_ended(self, trial_id: str, status: str) -> None:
        """Close the child run: `status` is "finished", "stopped" (early, by the scheduler),
        "diverged" (its loss blew up) or "error"."""
        if status not in ("finished", "stopped", "diverged", "error"):
            raise ValueError(f"trial status must be one of {', '.join(TRIAL_STATUSES)}: {status!r}")
        record = self._record(trial_id)
        self._set_status(record.run_id, status)
        self.flush(record.run_id)
        self.client.set_terminated(record.run_id, status=TRIAL_STATUSES[status])

    def trials_known(self, trial_ids: set[str]) -> None:
        """Close as `lost` each child run still running whose trial Tune no longer knows:
        one begun just before its driver was killed, after Tune last saved its state, and
        run again by the resumed sweep under another id (a searcher's ids are random)."""
        self.flush()
        self._children = None  # read afresh: the statuses as they are now
        for trial_id, run in self._known_children().items():
            if trial_id not in trial_ids and run.data.tags.get("ladder.status") == "running":
                self._set_status(run.info.run_id, "lost")
                self.flush(run.info.run_id)
                self.client.set_terminated(run.info.run_id, status=TRIAL_STATUSES["lost"])

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Attach a file (or every file of a folder) to the sweep's parent run."""
        parent_id = self.start()
        if Path(path).is_dir():
            self.client.log_artifacts(parent_id, str(path), artifact_path)
        else:
            self.client.log_artifact(parent_id, str(path), artifact_path)

    def end(self, status: str = "finished") -> None:
        """Close the parent run: `status` is "finished" or "error"."""
        if status not in ("finished", "error"):
            raise ValueError(f"sweep status must be 'finished' or 'error', got {status!r}")
        self.flush()
        self.client.set_terminated(self.start(), status=TRIAL_STATUSES[status])

    def forget(self) -> None:
        """Drop what this tracker believes the store holds of each trial (after a failed
        write it may be wrong): the next write reads it from the store again."""
        self._trials.clear()
        self._children = None

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Hold each run's params, metrics and tags written inside, and send them as one
        `log_batch` a run at the end (or before the run is closed): a backlog of thousands
        of journal records then costs a few requests a trial, not one a record. If anything
        inside fails the held writes are dropped; the caller writes again (idempotently)."""
        self._held = {}
        try:
            yield
            self.flush()
        finally:
            self._held = None

    def flush(self, run_id: str | None = None) -> None:
        """Send what is held for `run_id` (every run when None)."""
        if not self._held:
            return
        for held_id in [run_id] if run_id is not None else list(self._held):
            held = self._held.pop(held_id, None)
            if held is not None:
                self._send(held_id, held)

    def _log(
        self,
        run_id: str,
        metrics: list | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Write to a run now, or hold the write while batched."""
        writes = HeldWrites(list(metrics or []), dict(params or {}), dict(tags or {}))
        if self._held is None:
            self._send(run_id, writes)
            return
        held = self._held.setdefault(run_id, HeldWrites([], {}, {}))
        held.metrics += writes.metrics
        held.params.update(writes.params)
        held.tags.update(writes.tags)  # the latest status wins

    def _send(self, run_id: str, writes: HeldWrites) -> None:
        from mlflow.entities import Param, RunTag

        if writes.metrics or writes.params or writes.tags:
            self.client.log_batch(
                run_id,
                metrics=writes.metrics,
                params=[Param(key, value) for key, value in writes.params.items()],
                tags=[RunTag(key, value) for key, value in writes.tags.items()],
            )

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is None:
            return self.client.create_experiment(self.experiment)
        if experiment.lifecycle_stage == "deleted":
            raise InputError(
                f"MLflow experiment {self.experiment!r} is deleted; restore it in the UI, "
                "or pick another sweep/experiment name"
            )
        return experiment.experiment_id

    def _known_children(self) -> dict[str, Any]:
        """The sweep's trial runs by trial id, read from the store in one search the first
        time (a sweep started again, or after a failed write), not once a trial."""
        if self._children is None:
            parent = {"mlflow.parentRunId": self.start()}
            found = search_all_runs(self.client, [self.experiment_id], parent)
            self._children = {run.data.tags.get("ladder.trial_id"): run for run in found}
        return self._children

    def _find_trial(self, trial_id: str) -> TrialRecord | None:
        """A child run left by an earlier run of this sweep, with what it already logged."""
        run = self._known_children().get(trial_id)
        if run is None:
            return None
        record = TrialRecord(run.info.run_id)
        for key in EPOCH_METRICS + EVENT_METRICS + MODEL_METRICS:
            if key not in run.data.metrics:  # never logged: no history to read
                continue
            for metric in self.client.get_metric_history(record.run_id, key):
                record.steps(key)[metric.step] = metric.value
        return record

    def _record(self, trial_id: str) -> TrialRecord:
        self.start()
        record = self._trials.get(trial_id) or self._find_trial(trial_id)
        if record is None:
            raise ValueError(f"trial {trial_id!r} has no run: call trial_started first")
        self._trials[trial_id] = record
        return record

    def _set_status(self, run_id: str, status: str) -> None:
        self._log(run_id, tags={"ladder.status": status})
        if status == "running":
            self.client.update_run(run_id, status="RUNNING")

    def _log_missing_params(self, run: Any, params: dict[str, Any]) -> None:
        missing = {key: str(value) for key, value in params.items() if key not in run.data.params}
        self._log(run.info.run_id, params=missing)


@dataclass
class HeldWrites:
    """What waits for one run's `log_batch` while a tracker is batched."""

    metrics: list
    params: dict[str, str]
    tags: dict[str, str]


def tracker_for(plan: SweepPlan) -> SweepTracker:
    """The plan's tracker; it finds or creates its experiment and parent run on first use."""
    settings = {**plan.overrides, "data": plan.param_space["data"]}
    return SweepTracker(plan.tracking_uri, plan.experiment, plan.name, plan.space, settings)


def journal_folder(plan: SweepPlan) -> Path:
    """Where a sweep's tracking journal lives: beside its plan when the storage is a local
    path, else (s3://...) in ~/.cache/ladder/journals/<name> on the driver's machine."""
    if "://" in plan.storage:
        return Path.home() / ".cache" / "ladder" / "journals" / plan.name
    return Path(plan.folder) / "tracking"


def ended_status(trial: Any) -> str:
    """How a completed Tune trial ended: diverged, stopped (early, by the scheduler) or
    finished."""
    result = trial.last_result or {}
    if result.get(DIVERGED):
        return "diverged"
    epochs = TrialConfig.of(trial.config).recipe.epochs
    return "stopped" if result.get("epoch", 0) < epochs else "finished"


def schema_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numeric values of a Ray result that the schema logs (a result carries more)."""
    return {
        key: float(result[key])
        for key in EPOCH_METRICS + EVENT_METRICS + MODEL_METRICS
        if is_number(result.get(key))
    }


class TrackingCallback(tune.Callback):
    """Writes every trial's start, results and end to the sweep's tracking journal.

    The journal's sender (`pipeline.tracking.sweep_journal`) delivers them to MLflow: the callback
    never waits on the network and never raises because of tracking. Tune pickles its
    callbacks with the experiment and restores them on `--resume`, so the callback keeps
    only the plan and opens the journal lazily.
    """

    def __init__(self, plan: SweepPlan) -> None:
        self.plan = plan
        self._started: set[str] = set()
        self._failed = False

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["plan"])

    def _write(self, op: str, **args: Any) -> None:
        try:
            shared_journal(journal_folder(self.plan)).append(op, **args)
        except OSError as error:  # a full disk: say so once, and let the trials go on
            if not self._failed:
                print(f"ladder: tracking journal not written: {error}", file=sys.stderr)
            self._failed = True

    def _ensure_started(self, trial) -> None:
        if trial.trial_id not in self._started:
            name = trial_name(self.plan, trial.config)
            self._write("trial_started", trial_id=trial.trial_id, name=name, config=trial.config)
            self._started.add(trial.trial_id)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._started.discard(trial.trial_id)  # a restart sets the run back to running
        self._ensure_started(trial)

    def on_experiment_end(self, trials, **info) -> None:
        self._write("trials_known", trial_ids=[trial.trial_id for trial in trials])

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._ensure_started(trial)
        if "epoch" in result:
            metrics = schema_metrics(result)
            self._write("epoch", trial_id=trial.trial_id, epoch=int(result["epoch"]),
                        metrics=metrics, timestamp=now_ms())  # fmt: skip

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        """A trial that ends before its last epoch diverged (its last result says so) or
        was stopped by the scheduler (ASHA)."""
        self._ensure_started(trial)
        self._write("trial_ended", trial_id=trial.trial_id, status=ended_status(trial))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._ensure_started(trial)
        self._write("trial_ended", trial_id=trial.trial_id, status="error")
