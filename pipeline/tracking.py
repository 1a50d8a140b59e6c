"""Where runs are tracked: the MLflow store, its reachability, `ladder ui`, and the sweep schema.

The default store is the sqlite file `mlflow.db` in the working directory, so a laptop
needs no server; `MLFLOW_TRACKING_URI` points every command at a team server instead.

How a sweep is laid out in MLflow (the leaderboard, the charts and the UI rely on it):

- One experiment per sweep, named after the sweep unless the user names it.
- One parent run per sweep: run name = the sweep name; tags `ladder.role=sweep`,
  `ladder.sweep=<sweep>`, `ladder.space=<space>`; params = the space settings. The sweep's
  leaderboard (md, csv, json) and charts (PNG, HTML) are its artifacts.
- One child run per Ray trial: tags `mlflow.parentRunId=<parent run id>` (MLflow nests it
  under the parent), `ladder.role=trial`, `ladder.trial_id`, `ladder.sweep`, `ladder.space`,
  `ladder.arch`, `ladder.status` (running | finished | error); run name = the readable trial
  name; params = every config value, with the `model` entry's keys (arch, resolution, width,
  depth, alpha, beta, gamma, phi) flattened to the top level.
- Child metrics: `model/params` and `model/macs` at step 0; per epoch, step = the epoch
  (1-based): `train/loss`, `val/loss`, `val/acc1`, `val/acc5` (fractions in 0..1), `lr`,
  `train/images_per_sec`, `train/epoch_time` (s); and summaries re-logged at each epoch:
  `best/val/acc1`, `best/val/acc5` and `best/epoch` (the epoch with the highest top-1, its
  top-5 with it: one checkpoint, not two) and `train/total_time` (the sum of epoch times).
- A resumed sweep continues the same runs: the parent is found by its tags `ladder.sweep`
  and `ladder.role`, a child by `ladder.trial_id` under that parent, and an epoch whose
  step a metric already has is not logged again. Params are immutable in MLflow, so only
  the missing ones are added.
"""

from __future__ import annotations

import argparse
import numbers
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

DEFAULT_STORE = "mlflow.db"

EPOCH_METRICS = (
    "train/loss",
    "val/loss",
    "val/acc1",
    "val/acc5",
    "lr",
    "train/images_per_sec",
    "train/epoch_time",
)
MODEL_METRICS = ("model/params", "model/macs")  # logged once, at step 0
TRIAL_STATUSES = {"running": "RUNNING", "finished": "FINISHED", "error": "FAILED"}


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the sqlite store `mlflow.db` here (absolute)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(DEFAULT_STORE).resolve()}"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast with one line when a tracking server does not answer its health check.

    Without this, MLflow retries for minutes and then buries the cause in a traceback.
    """
    if not is_server(uri):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as reply:
            if reply.status == 200:
                return
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UsageError(
            f"MLflow tracking server {uri} is unreachable ({reason}); "
            "start it (make mlflow-server) or fix MLFLOW_TRACKING_URI"
        ) from None
    raise UsageError(f"MLflow tracking server {uri} failed its health check")


def open_client(uri: str) -> Any:
    """An `MlflowClient` on a store that exists: a server that answers, or a sqlite file.

    Reading commands must not create an empty `mlflow.db` where the user mistyped a path.
    """
    check_reachable(uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise UsageError(
            f"no MLflow store at {uri.removeprefix('sqlite:///')}; run `ladder sweep` first, "
            "or set MLFLOW_TRACKING_URI to your store"
        )
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def tag_filter(**tags: str) -> str:
    """An MLflow search filter matching every `tag=value` (keys may contain dots).

    Values are double-quoted so that names with an apostrophe still match.
    """
    clauses = []
    for key, value in tags.items():
        if '"' in value:
            raise ValueError(f"{key} {value!r}: names must not contain a double quote")
        clauses.append(f'tags.`{key}` = "{value}"')
    return " AND ".join(clauses)


def search_all_runs(client: Any, experiment_ids: list[str], filter_string: str) -> list:
    """Every run matching the filter, following MLflow's pages of 1000."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string=filter_string, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def flatten_config(config: dict[str, Any]) -> dict[str, Any]:
    """A trial config with the `model` entry's keys lifted to the top level."""
    flat = {key: value for key, value in config.items() if key != "model"}
    flat.update(config.get("model", {}))
    return flat


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TrialRecord:
    """What the tracker knows of one child run: its id and every metric value logged."""

    run_id: str
    history: dict[str, dict[int, float]] = field(default_factory=dict)  # key -> step -> value

    def steps(self, key: str) -> dict[int, float]:
        return self.history.setdefault(key, {})

    def add(self, keys: tuple[str, ...], metrics: dict[str, Any], step: int) -> dict[str, float]:
        """Record the numeric `keys` of `metrics` not yet logged at `step`; returns them."""
        new = {
            key: float(metrics[key])
            for key in keys
            if is_number(metrics.get(key)) and step not in self.steps(key)
        }
        for key, value in new.items():
            self.steps(key)[step] = value
        return new

    def summaries(self) -> dict[str, float]:
        """best/* from the epoch with the highest top-1 (earliest on ties), and total time."""
        summary = {}
        acc1 = self.steps("val/acc1")
        if acc1:
            best_epoch = max(sorted(acc1), key=lambda epoch: acc1[epoch])
            summary["best/val/acc1"] = acc1[best_epoch]
            summary["best/epoch"] = float(best_epoch)
            if best_epoch in self.steps("val/acc5"):
                summary["best/val/acc5"] = self.steps("val/acc5")[best_epoch]
        epoch_times = self.steps("train/epoch_time")
        if epoch_times:
            summary["train/total_time"] = float(sum(epoch_times.values()))
        return summary


class SweepTracker:
    """Logs one Ray Tune sweep to MLflow in the schema above; every method is idempotent.

    It talks to the store through its own `MlflowClient` (no global `mlflow` state), so the
    driver-side Ray callback that owns it can share a process with other sweeps.
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

    def start(self) -> str:
        """Find or create the experiment and the sweep's parent run; returns the parent id."""
        if self.parent_run_id is not None:
            return self.parent_run_id
        self.experiment_id = self._experiment_id()
        tags = {"ladder.role": "sweep", "ladder.sweep": self.sweep}
        found = search_all_runs(self.client, [self.experiment_id], tag_filter(**tags))
        if found:
            run = min(found, key=lambda run: run.info.start_time)
            self.client.update_run(run.info.run_id, status="RUNNING")
        else:
            tags["ladder.space"] = self.space
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=self.sweep)
        self._log_missing_params(run, self.settings)
        self.parent_run_id = run.info.run_id
        return self.parent_run_id

    def trial_started(self, trial_id: str, name: str, config: dict[str, Any]) -> str:
        """The trial's child run, created the first time, set running again on a restart."""
        parent_id = self.start()
        tags = {"ladder.role": "trial", "ladder.trial_id": trial_id, "ladder.sweep": self.sweep}
        record = self._trials.get(trial_id) or self._find_trial(trial_id)
        if record is None:
            run = self.client.create_run(
                self.experiment_id,
                run_name=name,
                tags={
                    **tags,
                    "mlflow.parentRunId": parent_id,
                    "ladder.space": self.space,
                    "ladder.arch": str(config.get("model", {}).get("arch", "")),
                    "ladder.status": "running",
                },
            )
            record = TrialRecord(run.info.run_id)
        else:
            run = self.client.get_run(record.run_id)
            self._set_status(record.run_id, "running")
        self._log_missing_params(run, flatten_config(config))
        self._trials[trial_id] = record
        return record.run_id

    def epoch_result(self, trial_id: str, epoch: int, metrics: dict[str, Any]) -> None:
        """Log one epoch's metrics at step `epoch` and refresh the summaries.

        Keys outside the schema and non-numeric values are ignored (a Ray result carries
        many of both); a metric that already has this step is not logged twice.
        """
        from mlflow.entities import Metric

        record = self._record(trial_id)
        timestamp = now_ms()
        new_epoch = record.add(EPOCH_METRICS, metrics, step=epoch)
        new_model = record.add(MODEL_METRICS, metrics, step=0)
        if new_epoch:
            new_epoch.update(record.summaries())
        batch = [Metric(key, value, timestamp, epoch) for key, value in new_epoch.items()]
        batch += [Metric(key, value, timestamp, 0) for key, value in new_model.items()]
        if batch:
            self.client.log_batch(record.run_id, metrics=batch)

    def trial_ended(self, trial_id: str, status: str) -> None:
        """Close the child run: `status` is "finished" or "error"."""
        if status not in ("finished", "error"):
            raise ValueError(f"trial status must be 'finished' or 'error', got {status!r}")
        record = self._record(trial_id)
        self._set_status(record.run_id, status)
        self.client.set_terminated(record.run_id, status=TRIAL_STATUSES[status])

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
        self.client.set_terminated(self.start(), status=TRIAL_STATUSES[status])

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is None:
            return self.client.create_experiment(self.experiment)
        if experiment.lifecycle_stage == "deleted":
            raise UsageError(
                f"MLflow experiment {self.experiment!r} is deleted; restore it in the UI, "
                "or pick another sweep/experiment name"
            )
        return experiment.experiment_id

    def _find_trial(self, trial_id: str) -> TrialRecord | None:
        """A child run left by an earlier run of this sweep, with what it already logged."""
        found = search_all_runs(
            self.client,
            [self.experiment_id],
            tag_filter(**{"mlflow.parentRunId": self.start(), "ladder.trial_id": trial_id}),
        )
        if not found:
            return None
        record = TrialRecord(found[0].info.run_id)
        for key in EPOCH_METRICS + MODEL_METRICS:
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
        self.client.set_tag(run_id, "ladder.status", status)
        if status == "running":
            self.client.update_run(run_id, status="RUNNING")

    def _log_missing_params(self, run: Any, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        missing = [
            Param(key, str(value)) for key, value in params.items() if key not in run.data.params
        ]
        if missing:
            self.client.log_batch(run.info.run_id, params=missing)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=5000)


def run(args: argparse.Namespace) -> int:
    """Serve the MLflow UI over the default store, or point at the configured server's UI."""
    uri = tracking_uri()
    if is_server(uri):
        check_reachable(uri)
        print(f"MLflow UI: {uri} (the tracking server serves it)")
        print_latest_sweep_page(uri, uri.rstrip("/"))
        return 0
    url = f"http://{args.host}:{args.port}"
    print(f"MLflow UI: {url}  (store {uri}; Ctrl-C stops it)")
    print_latest_sweep_page(uri, url)
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--host", args.host, "--port", str(args.port),
        "--workers", "1",  # one user: MLflow's default 4 workers only cost memory and startup
    ]  # fmt: skip
    return subprocess.call(command)


def print_latest_sweep_page(uri: str, url: str) -> None:
    """The runs table of the latest sweep: MLflow 3 opens experiments on its GenAI pages."""
    from pipeline.leaderboard import latest_sweep_experiment

    try:
        experiment = latest_sweep_experiment(open_client(uri))
    except UsageError:  # no store yet: the UI still starts, empty
        experiment = None
    if experiment is not None:
        print(
            f"latest sweep {experiment.name!r}: {url}/#/experiments/{experiment.experiment_id}/runs"
        )
    sys.stdout.flush()
