"""`ladder ui`: the MLflow UI over the local store, or the address of the team server's.

It prints the latest sweep's runs page too: MLflow 3 opens an experiment on its GenAI
pages, which are empty for training runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from lightning_modules.errors import InputError
from pipeline.leaderboard import latest_sweep_experiment
from pipeline.tracking import check_reachable, is_server, open_client, tracking_uri


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
    """The runs table of the latest sweep."""
    try:
        experiment = latest_sweep_experiment(open_client(uri))
    except InputError:  # no store yet: the UI still starts, empty
        experiment = None
    if experiment is not None:
        print(
            f"latest sweep {experiment.name!r}: {url}/#/experiments/{experiment.experiment_id}/runs"
        )
    sys.stdout.flush()
