"""What a sweep prints: the trial table a person compares, and no library noise.

The noise is turned off where it is made, never by swallowing a stream: Tune's own output
gives way to `TrialTable` (RAY_AIR_NEW_OUTPUT=0 plus a progress reporter), Ray Train's
per-report INFO logs to `train_logging()`, Lightning's INFO lines (seed, devices, the
litlogger tip, "`Trainer.fit` stopped") and one deprecation inside Lightning to
`quiet_worker()` in each Train worker, and on a local Ray the preemption watcher (a
single machine is never preempted), whose actor makes Ray Core log an error at every
trial. Tune's failed-trial message and Ray Train's failed backend shutdown keep one line
(`OneLineErrors`): a lost node is otherwise two screens of Ray's internals per trial.
Warnings and errors still show.
`--verbose` (LADDER_VERBOSE=1, which the workers of a local Ray inherit) leaves every
library as it is.
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

from ray import tune
from ray.exceptions import RayTaskError
from ray.train.v2._internal.execution.callback import ControllerCallback
from ray.tune import ProgressReporter

from lightning_modules.metric_names import DIVERGED, MODEL_MACS, VAL_ACC1
from lightning_modules.specs import TrialConfig
from pipeline.report.leaderboard import duration

if TYPE_CHECKING:  # a trial's actor imports this module: not torch's probes, nor timm
    from pipeline.sweep.estimate import Price

VERBOSE_ENV = "LADDER_VERBOSE"
ENDED = ("TERMINATED", "ERROR")  # Tune's trial statuses that end it
LIBRARY_DEPRECATIONS = (  # (category, message): deprecations inside libraries, not ours
    (FutureWarning, "`isinstance(treespec, LeafSpec)` is deprecated"),  # Lightning's _pytree
)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def quiet_driver(loud: bool, local_ray: bool) -> None:
    """Set up the sweep driver's output before Ray starts (its processes inherit this)."""
    if loud:
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # Tune prints through TrialTable
    if local_ray:
        os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating tables"
    logging.getLogger(TUNE_CONTROLLER).addFilter(OneLineErrors(TRIAL_FAILED))


TUNE_CONTROLLER = "ray.tune.execution.tune_controller"


class OneLineErrors(logging.Filter):
    """A library's error record that starts with `start` as one line: the exception's
    type and first line, without the traceback. For expected failures on a lost node:
    Tune's "Trial task failed for trial X" (the trial's folder keeps the traceback in
    error.txt, the sweep's end lists each failed trial's cause, and Tune restarts the
    trial as before) and Ray Train's "Graceful shutdown of backend failed"."""

    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith(self.start):
            error = record.exc_info[1]
            if isinstance(error, RayTaskError) and error.cause is not None:
                error = error.cause  # its own first line only names the task that raised
            first = next(iter(str(error).strip().splitlines()), "")
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {first[:300]}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


TRIAL_FAILED = "Trial task failed"
BACKEND_SHUTDOWN = ("ray.train.v2._internal.callbacks.backend_setup",
                    "Graceful shutdown of backend failed")  # fmt: skip  # logger, start


class QuietController(ControllerCallback):
    """In a trial's Ray Train controller process: Ray Train's warning on a worker group
    whose node died comes as one line instead of a traceback (`OneLineErrors`)."""

    def after_controller_start(self, train_run_context: Any) -> None:
        logger, start = BACKEND_SHUTDOWN
        logging.getLogger(logger).addFilter(OneLineErrors(start))


def train_logging() -> Any:
    """Ray Train's logging for a trial: warnings only ("Reporting training result ...")."""
    import ray.train

    return ray.train.LoggingConfig(log_level="INFO" if verbose() else "WARNING")


def quiet_worker() -> None:
    """In a Train worker: Lightning's INFO lines and the libraries' deprecations off."""
    if verbose():
        return
    from ray.train.v2._internal.execution import context

    # Ray Train names this module's logger by its file path, outside `ray.train`, so
    # LoggingConfig misses its "Reporting training result N: TrainingReport(...)".
    for name in ("pytorch_lightning", "lightning_fabric", context.__file__):
        logging.getLogger(name).setLevel(logging.WARNING)
    for category, message in LIBRARY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=re.escape(message), category=category)


def cell(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


class TrialTable(ProgressReporter):
    """Tune's progress as a person reads it: one line per trial epoch, and the table of
    every trial whenever one ends or fails (the grid of what runs is printed before)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self._seen: dict[str, tuple[str, int]] = {}  # trial id -> (status, epoch)

    @staticmethod
    def state(trial: Any) -> tuple[str, int]:
        return trial.status, int(trial.last_result.get("epoch", 0) or 0)

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        return any(self.state(trial) != self._seen.get(trial.trial_id) for trial in trials)

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        ended = False
        for trial in trials:
            status, epoch = self.state(trial)
            seen_status, seen_epoch = self._seen.get(trial.trial_id, ("", 0))
            if epoch > seen_epoch:
                print(self.epoch_line(trial), flush=True)
            ended |= status != seen_status and status in ENDED
            self._seen[trial.trial_id] = (status, epoch)
        if ended:
            print(self.table(trials), flush=True)

    def epoch_line(self, trial: Any) -> str:
        from pipeline.report.leaderboard import duration

        result = trial.last_result
        return (
            f"{trial}  epoch {result['epoch']}/{self.epochs}  "
            f"val top-1 {cell(result.get(VAL_ACC1), '.1%')}  "
            f"({duration(result.get('time_total_s'))})"
        )

    def table(self, trials: list[Any]) -> str:
        scaled = any(TrialConfig.of(trial.config).model.alpha is not None for trial in trials)
        knobs = ("alpha", "beta", "gamma") if scaled else ("arch",)
        header = ("trial", *knobs, "res", "MACs", "epoch", "val top-1", "elapsed", "status")
        rows = [header] + [self.row(trial, knobs) for trial in trials]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        counts = Counter(trial.status.lower() for trial in trials)
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        return "\n".join([f"trials: {summary}", *lines])

    def row(self, trial: Any, knobs: tuple[str, ...]) -> tuple[str, ...]:
        from pipeline.report.leaderboard import duration, human

        model, result = TrialConfig.of(trial.config).model, trial.last_result
        epoch = result.get("epoch")
        shown = model.to_dict()
        return (
            str(trial),
            *(str(shown.get(knob, "-")) for knob in knobs),
            str(model.resolution),
            human(result.get(MODEL_MACS)),
            f"{epoch}/{self.epochs}" if epoch else "-",
            cell(result.get(VAL_ACC1), ".1%"),
            duration(result.get("time_total_s")),
            "diverged" if result.get(DIVERGED) else trial.status.lower(),
        )


ETA_EVERY_S = 30.0


class EtaCallback(tune.Callback):
    """One line at most every `ETA_EVERY_S` while the sweep runs: the share of the
    estimated work done and the time left at the pace so far.

    Work is counted in estimated seconds: a trial's startup once it reports, then each
    epoch it reports. A trial that ends early (ASHA, an error) drops its remaining work.
    """

    def __init__(self, price: Price) -> None:
        self.price = price
        self._reset()

    def _reset(self) -> None:
        self.started = time.monotonic()
        self.printed = self.started
        self.done: dict[str, int] = {}  # trial id -> epochs reported
        self.ended: set[str] = set()
        self.model: dict[str, str] = {}  # trial id -> model name

    def __getstate__(self) -> dict[str, Any]:
        return {"price": self.price}  # a resumed sweep starts its clock anew

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["price"])

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.model[trial.trial_id] = TrialConfig.of(trial.config).model.name
        self.done[trial.trial_id] = int(result.get("epoch", 0))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.ended.add(trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.ended.add(trial.trial_id)

    def on_step_end(self, iteration, trials, **info) -> None:
        now = time.monotonic()
        if now - self.printed >= ETA_EVERY_S:
            self.printed = now
            print(self.line(now), flush=True)

    def line(self, now: float) -> str:
        models = self.price.models
        total = sum(models[name].trial_s for name in self.price.trials)
        done = 0.0
        for trial_id, epochs in self.done.items():
            cost = models.get(self.model[trial_id])
            if cost is None:
                continue
            worked = cost.startup_s + epochs * cost.epoch_s
            done += worked
            if trial_id in self.ended:  # its unspent expected epochs are no longer work
                total -= cost.trial_s - worked
        elapsed = now - self.started
        if done <= 0:
            return f"ladder sweep: {duration(elapsed)} elapsed, no epoch reported yet"
        share = min(1.0, done / max(total, done))
        left = elapsed * (1 - share) / share
        return (
            f"ladder sweep: {share:.0%} of the estimated work done in {duration(elapsed)}, "
            f"ETA {duration(left)}"
        )
