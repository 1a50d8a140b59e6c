"""Where runs are tracked: the MLflow store, its reachability, and `ladder ui`.

The default store is the sqlite file `mlflow.db` in the working directory, so a laptop
needs no server; `MLFLOW_TRACKING_URI` points every command at a team server instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.errors import UsageError

DEFAULT_STORE = "mlflow.db"


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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=5000)


def run(args: argparse.Namespace) -> int:
    """Serve the MLflow UI over the default store, or point at the configured server's UI."""
    uri = tracking_uri()
    if is_server(uri):
        check_reachable(uri)
        print(f"MLflow UI: {uri} (the tracking server serves it)")
        return 0
    url = f"http://{args.host}:{args.port}"
    print(f"MLflow UI: {url}  (store {uri}; Ctrl-C stops it)", flush=True)
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri,
        "--host", args.host, "--port", str(args.port),
    ]  # fmt: skip
    return subprocess.call(command)
