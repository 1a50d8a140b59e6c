"""`ladder ui`: the MLflow UI over the local store, or the address of the team server's.

It prints the latest sweep's trials and its top-1 vs MACs chart (`pipeline.tracking.ui_view`):
MLflow 3 would open the experiment on its GenAI pages, empty for training runs. The
local UI runs only what a look at runs needs: MLflow's web server with one worker,
without its job runner and huey consumers (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false,
unless set). Signals sent to `ladder ui` reach MLflow, and it waits for MLflow to exit.
"""

from __future__ import annotations

import os
import sys

from lightning_modules.errors import InputError
from pipeline.report.leaderboard import latest_sweep_experiment
from pipeline.tracking.children import exec_supervised
from pipeline.tracking.schema import (
    check_reachable,
    is_server,
    open_client,
    refresh_query_statistics,
    tracking_uri,
)
from pipeline.tracking.ui_view import prepare_view, view_urls

UI_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # GenAI jobs: 7 processes, ~1.3 GB


def serve_ui(host: str, port: int) -> int:
    """Serve the MLflow UI over the default store on `host`:`port`, or point at the
    configured server's UI (which serves its own)."""
    uri = tracking_uri()
    if is_server(uri):
        check_reachable(uri)
        print(f"MLflow UI: {uri} (the tracking server serves it)")
        print_latest_sweep_page(uri, uri.rstrip("/"))
        return 0
    url = f"http://{host}:{port}"
    print(f"MLflow UI: {url}  (store {uri}; Ctrl-C stops it)")
    refresh_query_statistics(uri)
    print_latest_sweep_page(uri, url)
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--host", host, "--port", str(port),
        "--workers", "1",  # one user: MLflow's default 4 workers only cost memory and startup
    ]  # fmt: skip
    exec_supervised(command, {**UI_ENV, **os.environ})
    return 0  # not reached: exec


def print_latest_sweep_page(uri: str, url: str) -> None:
    """The trials of the latest sweep, and their chart of top-1 against MACs."""
    try:
        client = open_client(uri)
        experiment = latest_sweep_experiment(client)
    except InputError:  # no store yet: the UI still starts, empty
        experiment = None
    if experiment is not None:
        prepare_view(client, experiment)
        trials, chart = view_urls(url, experiment.experiment_id)
        print(f"latest sweep {experiment.name!r}: {trials}")
        print(f"top-1 vs MACs: {chart}")
    sys.stdout.flush()
