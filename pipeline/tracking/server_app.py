"""The app `ladder server` runs: MLflow's tracking server and one route of its own.

The route (`POST /ladder/api/runs`, pipeline/tracking/run_records.py) answers the one
search every reader of a sweep sends, in one request instead of pages of MLflow's
`runs/search`. `ladder server` starts `mlflow server --app-name ladder`, which finds this
factory through the package's `mlflow.app` entry point (MLflow's own plug-in point, the
one its `basic-auth` app uses), so MLflow still parses its flags, sets up its stores and
serves everything else as it would.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.tracking.run_records import RUNS_PATH, read_runs

APP_NAME = "ladder"  # the entry point's name in pyproject.toml


def create_app() -> Any:
    """MLflow's FastAPI app with the runs route placed before the catch-all mount of its
    Flask app (a route added after it would never be reached)."""
    from mlflow.server.fastapi_app import app

    app.add_api_route(RUNS_PATH, runs_route, methods=["POST"])
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def runs_route(query: dict[str, Any]) -> Any:
    """The matching runs as JSON; 400 for a malformed query, 501 on a store without SQL
    tables (a client then falls back to MLflow's search). FastAPI runs this plain function
    in its thread pool, off the event loop."""
    from fastapi import Response
    from mlflow.server.handlers import _get_tracking_store

    experiment_ids, tags = query.get("experiment_ids"), query.get("tags", {})
    if not well_formed(experiment_ids, tags):
        return Response("expected experiment_ids: [digits], tags: {key: value}", 400)
    engine = getattr(_get_tracking_store(), "engine", None)
    if engine is None:
        return Response("this tracking store has no SQL tables", 501)
    with engine.connect() as connection:
        records = read_runs(connection, [int(i) for i in experiment_ids], tags)
    return Response(json.dumps({"runs": records}, separators=(",", ":")),
                    media_type="application/json")  # fmt: skip


def well_formed(experiment_ids: Any, tags: Any) -> bool:
    """Experiment ids are lists of digit strings; tags map strings to strings."""
    return (
        isinstance(experiment_ids, list)
        and all(isinstance(i, str) and i.isdigit() for i in experiment_ids)
        and isinstance(tags, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    )
