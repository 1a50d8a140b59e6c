"""`ladder server`: the team's MLflow tracking server, on PostgreSQL, artifacts proxied.

Every client (sweep drivers, `ladder leaderboard`, `ladder chart`, the UI) talks HTTP to
this one server: it alone holds the database password and the artifact store's keys, and
serves artifacts through itself (`mlflow-artifacts:/` URIs), so a Ray node needs nothing but
`MLFLOW_TRACKING_URI`. It is MLflow's server with one route added, through which a sweep's
readers fetch its runs in one request (server_app.py). The database is checked before
MLflow starts, because MLflow on an unreachable or misconfigured database prints pages of
SQLAlchemy traceback and exits.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import urllib.parse
from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.tracking.children import exec_supervised
from pipeline.tracking.server_app import APP_NAME
from pipeline.tracking.server_loop import LOOP_OPTION

BACKEND_ENV = "MLFLOW_BACKEND_STORE_URI"
ARTIFACTS_ENV = "MLFLOW_ARTIFACTS_DESTINATION"
POSTGRES_SCHEMES = ("postgresql", "postgres")  # optionally with a driver: postgresql+psycopg2
URI_FORM = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def backend_store_uri(flag: str | None) -> str:
    """The PostgreSQL URI from the flag or the environment; InputError for anything else."""
    uri = flag or os.environ.get(BACKEND_ENV)
    if not uri:
        raise InputError(f"--backend-store-uri (or {BACKEND_ENV}) is required: {URI_FORM}")
    scheme = uri.partition("://")[0].partition("+")[0]
    if scheme not in POSTGRES_SCHEMES:
        raise InputError(f"--backend-store-uri {redacted(uri)}: expected {URI_FORM}")
    return uri


def sqlalchemy_uri(uri: str) -> str:
    """The URI with psycopg2 named as its driver when none is.

    SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed;
    psycopg2 is (psycopg2-binary).
    """
    scheme, _, rest = uri.partition("://")
    return f"postgresql+psycopg2://{rest}" if scheme in POSTGRES_SCHEMES else uri


def artifacts_destination(flag: str | None) -> str:
    """Where the server keeps artifacts: an S3 URI as given, a local folder made absolute."""
    destination = flag or os.environ.get(ARTIFACTS_ENV) or "mlartifacts"
    if destination.startswith("s3://"):
        if importlib.util.find_spec("boto3") is None:
            raise InputError(
                f"--artifacts-destination {destination}: MLflow needs boto3 for S3; "
                "pip install boto3 (the docker image has it)"
            )
        return destination
    if "://" in destination:
        return destination  # another store MLflow knows (gs://, wasbs://, ...): its call
    return str(Path(destination).expanduser().resolve())


def redacted(uri: str) -> str:
    """The URI with its password replaced by ***: error messages end up in logs."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    user_info, _, host_info = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user_info.partition(':')[0]}:***@{host_info}").geturl()


def database_problem(message: str) -> str:
    """libpq's error as one line saying which of the usual three things is wrong."""
    first_line = message.strip().splitlines()[0] if message.strip() else "no reason given"
    detail = " ".join(first_line.rpartition("failed: ")[2].removeprefix("FATAL:").split())
    if "authentication failed" in detail or "no password supplied" in detail:
        return f"authentication failed ({detail}); check the user and password in the URI"
    if detail.startswith("database") and detail.endswith("does not exist"):
        return f"{detail}; create it (createdb -O USER DATABASE) or fix the URI"
    return f"cannot connect ({detail}); is PostgreSQL running and reachable at that address?"


def check_database(uri: str, timeout_s: int = 5) -> None:
    """Open and close one connection, so a wrong URI fails in seconds with one line."""
    import psycopg2

    libpq_uri = "postgresql://" + uri.partition("://")[2]  # libpq knows no +driver suffix
    try:
        psycopg2.connect(libpq_uri, connect_timeout=timeout_s).close()
    except psycopg2.Error as error:
        raise InputError(
            f"--backend-store-uri {redacted(uri)}: {database_problem(str(error))}"
        ) from None


def public_url(host: str, port: int) -> str:
    """The URL clients use: a wildcard bind is reached through this machine's name."""
    return f"http://{socket.gethostname() if host in WILDCARD_HOSTS else host}:{port}"


def serve(*, backend: str | None, artifacts: str | None, host: str, port: int, workers: int) -> int:
    """Check the database, then become MLflow's server on `host`:`port`. `backend` and
    `artifacts` fall back to the environment (`BACKEND_ENV`, `ARTIFACTS_ENV`)."""
    backend = backend_store_uri(backend)
    artifacts = artifacts_destination(artifacts)
    check_database(backend)
    url = public_url(host, port)
    print(f"MLflow server: {url}  (store {redacted(backend)}, artifacts {artifacts})")
    print(f"export MLFLOW_TRACKING_URI={url}", flush=True)
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--artifacts-destination", artifacts,
        "--host", host, "--port", str(port),
        "--workers", str(workers),
        "--app-name", APP_NAME,  # MLflow's server plus the runs route (server_app.py)
        "--uvicorn-opts", LOOP_OPTION,  # every request ~40 ms sooner (server_loop.py)
    ]  # fmt: skip
    # The URI goes in the environment, not argv, where `ps` would show its password.
    # Signals (Ctrl-C, docker stop) sent to this process reach MLflow (pipeline.tracking.children).
    exec_supervised(command, {**os.environ, BACKEND_ENV: sqlalchemy_uri(backend)})
    return 0  # not reached: exec
