"""`ladder train`'s MLflow run through a tracking journal: training never waits on MLflow.

`JournalLogger` is the Lightning logger of the run: on rank 0 it appends the run's start,
hyper-parameters, metrics and end to `<run folder>/tracking/journal.jsonl`
(`pipeline.tracking.journal`), which a sender thread delivers. `TrainReplay` applies them
idempotently: the run is the one named in `mlflow_run.json`, or found by its tag
`ladder.run_dir` before one is created (a resumed run, or a reply lost in an outage,
makes no second run), params are added only where missing, and a metric is not logged
again at a step it has. A run that ended during an outage: `ladder sync --run FOLDER`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from lightning_fabric.utilities.logger import _convert_params, _flatten_dict
from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from pipeline.tracking.journal import Journal, Sender, shared_journal
from pipeline.tracking.schema import search_all_runs

RUN_FILE = "mlflow_run.json"  # beside the checkpoints: the MLflow run of the folder
RUN_TAG = "ladder.run_dir"
FINISH_GRACE_S = 20.0
STATUSES = {"success": "FINISHED", "failed": "FAILED", "finished": "FINISHED"}


class TrainReplay:
    """Applies the records of a training run's journal to MLflow."""

    def __init__(self, run_dir: Path, uri: str) -> None:
        from mlflow import MlflowClient

        self.run_dir = run_dir
        self.client = MlflowClient(tracking_uri=uri)
        self.run_id: str | None = None
        self._logged: dict[str, set[int]] | None = None  # key -> steps the run has

    def apply(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            args = {key: value for key, value in record.items() if key != "op"}
            getattr(self, f"_{record['op']}")(**args)

    def reset(self) -> None:
        """After a failed write: read what the run holds again before the next one."""
        self._logged = None

    def _run_started(self, experiment: str, run_name: str, tags: dict[str, str]) -> None:
        run_file = self.run_dir / RUN_FILE
        if run_file.is_file():
            self.run_id = json.loads(run_file.read_text())["run_id"]
            return
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        tags = {**tags, RUN_TAG: str(self.run_dir.resolve())}
        runs = search_all_runs(self.client, [experiment_id], {RUN_TAG: tags[RUN_TAG]})
        run = (
            runs[0] if runs else self.client.create_run(experiment_id, tags=tags, run_name=run_name)
        )
        self.run_id = run.info.run_id
        run_file.write_text(json.dumps({"run_id": self.run_id}))

    def run(self) -> str:
        """The run's id: known since `run_started` was sent, by this process or another."""
        if self.run_id is None:
            self.run_id = json.loads((self.run_dir / RUN_FILE).read_text())["run_id"]
        return self.run_id

    def _params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        have = self.client.get_run(self.run()).data.params
        missing = [Param(key, value) for key, value in params.items() if key not in have]
        if missing:
            self.client.log_batch(self.run(), params=missing)

    def _metrics(self, metrics: dict[str, float], step: int, timestamp: int) -> None:
        from mlflow.entities import Metric

        logged = self.logged()
        new = {key: value for key, value in metrics.items() if step not in logged.get(key, ())}
        if new:
            batch = [Metric(key, value, timestamp, step) for key, value in new.items()]
            self.client.log_batch(self.run(), metrics=batch)
        for key in new:
            logged.setdefault(key, set()).add(step)

    def _run_ended(self, status: str) -> None:
        self.client.set_terminated(self.run(), status)

    def logged(self) -> dict[str, set[int]]:
        if self._logged is None:
            keys = self.client.get_run(self.run()).data.metrics
            self._logged = {
                key: {m.step for m in self.client.get_metric_history(self.run(), key)}
                for key in keys
            }
        return self._logged


class TrainSending:
    """A training run's journal and replay; its sender runs on rank 0 only (`start`)."""

    def __init__(self, run_dir: Path, uri: str) -> None:
        self.run_dir = run_dir
        self.journal: Journal = shared_journal(run_dir / "tracking")
        self.replay = TrainReplay(run_dir, uri)
        self.sender: Sender | None = None

    def start(self) -> Sender:
        self.sender = Sender(self.journal, self.replay.apply, self.replay.reset)
        return self.sender

    def finish(self, grace_s: float = FINISH_GRACE_S) -> bool:
        """Wait for the sender; True if all was sent, else one line naming `ladder sync`."""
        if self.sender is None:
            return True
        return self.sender.close(grace_s, f"ladder sync --run {self.run_dir}")


class JournalLogger(Logger):
    """A Lightning logger writing the run's MLflow records to its journal (rank 0 only)."""

    def __init__(self, sending: TrainSending, experiment: str, tags: dict[str, str]) -> None:
        super().__init__()
        self.sending = sending
        self._experiment = experiment
        if rank_zero_only.rank == 0:
            sending.journal.append("run_started", experiment=experiment,
                                   run_name=sending.run_dir.name, tags=tags)  # fmt: skip
            sending.start().start()

    @property
    def name(self) -> str:
        return self._experiment

    @property
    def version(self) -> str:
        return self.sending.run_dir.name

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        flat = _flatten_dict(_convert_params(params))
        self.sending.journal.append("params", params={k: str(v) for k, v in flat.items()})

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        numbers = {key: float(value) for key, value in metrics.items()}
        self.sending.journal.append("metrics", metrics=numbers, step=step or 0,
                                    timestamp=int(time.time() * 1000))  # fmt: skip

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.sending.journal.append("run_ended", status=STATUSES.get(status, "FAILED"))
