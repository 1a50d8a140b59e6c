"""Where runs are tracked: the MLflow store, its reachability, and the sweep schema.

The default store is the sqlite file `mlflow.db` in the working directory, so a laptop
needs no server; `MLFLOW_TRACKING_URI` points every command at a team server instead.

How a sweep is laid out in MLflow (the leaderboard, the charts and the UI rely on it):

- One experiment per sweep, named after the sweep unless the user names it.
- One parent run per sweep: run name = the sweep name; tags `ladder.role=sweep`,
  `ladder.sweep=<sweep>`, `ladder.space=<space>`; params = the space settings. The sweep's
  leaderboard (md, csv, json) and charts (PNG, HTML) are its artifacts.
- One child run per Ray trial: tags `mlflow.parentRunId=<parent run id>` (MLflow nests it
  under the parent), `ladder.role=trial`, `ladder.trial_id`, `ladder.sweep`, `ladder.space`,
  `ladder.arch`, `ladder.status` (running | finished | stopped | error; stopped: ended early
  by the scheduler); run name = the readable trial name (the model point's, `ModelSpec.name`,
  with `_seed<n>` after it when the sweep trains each point with several seeds, `--seeds`);
  params = every config value, the `model` and `recipe` entries' keys (arch, resolution,
  width, depth, alpha, beta, gamma, phi, ...; epochs, lr, ..., seed) flattened to the top
  level.
- Child metrics (their names: the constants of `lightning_modules/metric_names.py`).
  At step 0, counted from the shapes, `model/params`, `model/macs` and
  `model/activations` (values per image); measured after the last epoch on the device
  that trained it, `model/infer_images_per_sec` (at the trial's resolution, batch 64),
  `model/latency_ms` (batch 1) and `model/peak_memory_mb` (of training). Per epoch, step = the epoch
  (1-based): `train/loss`, `val/loss`, `val/acc1`, `val/acc5` (fractions in 0..1), `lr`,
  `train/images_per_sec`, `train/epoch_time` (s); and summaries re-logged at each epoch:
  `best/val/acc1`, `best/val/acc5` and `best/epoch` (the epoch with the highest top-1, its
  top-5 with it: one checkpoint, not two), `val/last_epoch` (the last epoch with a top-1:
  what the leaderboard shows as epochs done, read from the run's latest metrics instead of
  one history request per run; runs logged before it existed fall back to the history)
  and `train/total_time` (the sum of epoch times).
- Baseline runs (`ladder baseline`, pipeline/report/baseline_runs.py): tag `ladder.role=baseline`
  and `ladder.dataset`; params `model`, `n_train`, `image_size`, `data`; metric `val/acc1`.
- A resumed sweep continues the same runs: the parent is found by its tags `ladder.sweep`
  and `ladder.role`, a child by `ladder.trial_id` under that parent, and an epoch whose
  step a metric already has is not logged again. Params are immutable in MLflow, so only
  the missing ones are added.
"""

from __future__ import annotations

import gc
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.metric_names import (
    MODEL_ACTIVATIONS,
    MODEL_INFER_IMAGES_PER_SEC,
    MODEL_LATENCY_MS,
    MODEL_MACS,
    MODEL_PARAMS,
    MODEL_PEAK_MEMORY_MB,
    TRAIN_EPOCH_TIME,
    TRAIN_IMAGES_PER_SEC,
    TRAIN_LOSS,
    VAL_ACC1,
    VAL_ACC5,
    VAL_LAST_EPOCH,
    VAL_LOSS,
)

DEFAULT_STORE = "mlflow.db"
SEED_PART = "_seed"  # trial name = point name + SEED_PART + seed, with several seeds

EPOCH_METRICS = (
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_ACC1,
    VAL_ACC5,
    "lr",
    TRAIN_IMAGES_PER_SEC,
    TRAIN_EPOCH_TIME,
)
# logged at an epoch only when it happens: 1 where the loss blew up (divergence.py)
EVENT_METRICS = ("diverged",)
MODEL_METRICS = (  # logged once, at step 0
    MODEL_PARAMS,  # counted
    MODEL_MACS,
    MODEL_ACTIVATIONS,
    MODEL_INFER_IMAGES_PER_SEC,  # measured after training
    MODEL_LATENCY_MS,
    MODEL_PEAK_MEMORY_MB,
)
# ladder.status -> MLflow's run status; "stopped": a scheduler (ASHA) ended it early, on purpose
TRIAL_STATUSES = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "stopped": "FINISHED",
    "diverged": "FAILED",  # its loss blew up (lightning_modules/divergence.py): no model
    "error": "FAILED",
    "lost": "KILLED",  # begun before a driver was killed, unknown to the resumed sweep
}


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else the sqlite store `mlflow.db` here (absolute)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(DEFAULT_STORE).resolve()}"


SERVER_SEARCH_THREADS = 4  # `ladder server`'s workers (`--workers`, default 4)
SEARCH_PAGE = 1000  # runs a search request returns: MLflow's default
RUNS_TIMEOUT_S = 600  # `ladder server`'s runs route: 100,000 runs in one answer


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
        raise InputError(
            f"MLflow tracking server {uri} is unreachable ({reason}); "
            "start it (make mlflow-server) or fix MLFLOW_TRACKING_URI"
        ) from None
    raise InputError(f"MLflow tracking server {uri} failed its health check")


def open_client(uri: str) -> Any:
    """An `MlflowClient` on a store that exists: a server that answers, or a sqlite file.

    Reading commands must not create an empty `mlflow.db` where the user mistyped a path.
    """
    check_reachable(uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise InputError(
            f"no MLflow store at {uri.removeprefix('sqlite:///')}; run `ladder sweep` first, "
            "or set MLFLOW_TRACKING_URI to your store"
        )
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def refresh_query_statistics(uri: str) -> None:
    """Give a sqlite store's query planner its tables' sizes (`ANALYZE`; 0.4 s at 10,000
    runs). Without them sqlite joins the metric a page is ordered by to each run by a scan:
    the UI's trials page, best top-1 first, took 8 s at 10,000 runs and 0.1 s after. The
    statistics are kept in the file; a store that is missing, busy or read-only is left as
    it is (the page is then only slower)."""
    path = uri.removeprefix("sqlite:///")
    if path == uri or not Path(path).is_file():
        return
    import sqlite3

    try:
        with closing(sqlite3.connect(path, timeout=2.0)) as store:
            store.execute("ANALYZE")
            store.commit()
    except sqlite3.Error:
        pass


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


def search_all_runs(client: Any, experiment_ids: list[str], tags: dict[str, str]) -> list:
    """Every active run of the experiments whose tags include `tags` (all runs: {}).

    From `ladder server`, one request to its runs route (run_records.py): a leaderboard
    of 10,000 runs in 4.8 s here, 16-24 s through MLflow's search. From any other server,
    MLflow's search, past the first page (the latest-started runs) SERVER_SEARCH_THREADS
    searches of disjoint start-time ranges at once: a page of 1,000 runs costs such a
    server ~2.7 s here (PostgreSQL), most of it MLflow turning runs into JSON.

    Python's cyclic garbage collector is paused meanwhile: a run read from a sqlite store
    is some 35 ORM objects (its latest metrics, params and tags), and with thousands of
    runs held each full collection rescans them all, again and again; that was over half
    the time of reading 10,000 runs here (13.6 s against 6.0 s paused). What the pages
    leave as garbage is collected once, after.
    """
    filter_string = tag_filter(**tags)
    with gc_paused():
        if not is_server(client.tracking_uri):
            return all_pages(client, experiment_ids, filter_string)
        routed = runs_from_ladder_server(client.tracking_uri, experiment_ids, tags)
        if routed is not None:
            return routed
        latest = client.search_runs(
            experiment_ids, filter_string, max_results=SEARCH_PAGE,
            order_by=["attributes.start_time DESC"],
        )  # fmt: skip
        if not latest.token:
            return list(latest)
        # every run started after the page's last one is on the page; the rest started
        # at or before it, some of those (its ties) on the page too
        ranges = start_time_ranges(
            client, experiment_ids, filter_string, end=latest[-1].info.start_time + 1
        )
        with ThreadPoolExecutor(SERVER_SEARCH_THREADS) as pool:
            parts = pool.map(
                lambda bounds: all_pages(client, experiment_ids, within(filter_string, *bounds)),
                ranges,
            )
            seen = {run.info.run_id for run in latest}
            return [
                *latest,
                *(run for part in parts for run in part if run.info.run_id not in seen),
            ]


def runs_from_ladder_server(
    uri: str, experiment_ids: list[str], tags: dict[str, str]
) -> list | None:
    """The runs through `ladder server`'s runs route; None where the server has no such
    route (a plain `mlflow server`, a hosted one) or cannot answer it."""
    import json

    from pipeline.tracking.run_records import RUNS_PATH, runs_of

    query = json.dumps({"experiment_ids": list(experiment_ids), "tags": tags}).encode()
    request = urllib.request.Request(uri.rstrip("/") + RUNS_PATH, data=query, method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=RUNS_TIMEOUT_S) as reply:
            if reply.headers.get_content_type() != "application/json":
                return None  # a server answering every path with its UI's page
            return runs_of(json.load(reply)["runs"])
    except (urllib.error.URLError, OSError, ValueError):  # 404 is an HTTPError, a URLError
        return None


def all_pages(client: Any, experiment_ids: list[str], filter_string: str) -> list:
    """The runs of every page of one search, one page after another."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=SEARCH_PAGE,
                                  page_token=token)  # fmt: skip
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def start_time_ranges(
    client: Any, experiment_ids: list[str], filter_string: str, end: int
) -> list[tuple[int, int]]:
    """Start-time ranges [from, to) that together hold every matching run started before
    `end`, SERVER_SEARCH_THREADS x 2 of them, equally wide from the first run's start."""
    (first,) = client.search_runs(
        experiment_ids, filter_string, max_results=1, order_by=["attributes.start_time ASC"]
    )
    low, count = first.info.start_time, SERVER_SEARCH_THREADS * 2
    edges = [low + (end - low) * index // count for index in range(count)] + [end]
    return [(a, b) for a, b in pairwise(edges) if a < b]


def within(filter_string: str, start: int, end: int) -> str:
    """The filter, limited to runs started in [start, end) (milliseconds)."""
    limit = f"attributes.start_time >= {start} AND attributes.start_time < {end}"
    return f"{filter_string} AND {limit}" if filter_string else limit


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (unless it was off already)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def epochs_done(client: Any, run: Any) -> int:
    """A trial run's last epoch with a top-1: the `val/last_epoch` summary among the latest
    metrics a search already returned; one history request only for a run logged before
    that summary existed, none for a run without any top-1."""
    metrics = run.data.metrics
    if VAL_LAST_EPOCH in metrics:
        return int(metrics[VAL_LAST_EPOCH])
    if VAL_ACC1 not in metrics:
        return 0
    history = client.get_metric_history(run.info.run_id, VAL_ACC1)
    return max((metric.step for metric in history), default=0)


def seeded_name(point: str, seed: int) -> str:
    """A trial's name when its sweep trains every point with several seeds."""
    return f"{point}{SEED_PART}{seed}"


def point_of(trial: str, seed: int | None) -> str:
    """The model point a trial trained: its name without the seed `seeded_name` added."""
    return trial if seed is None else trial.removesuffix(seeded_name("", seed))
