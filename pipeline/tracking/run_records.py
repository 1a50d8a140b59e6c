"""A sweep's runs in one request: `ladder server`'s runs route, both ends of the wire.

Everything that reads a sweep back (the leaderboard, the charts, `ladder export`, a resumed
tracker) asks one question: the active runs of these experiments carrying these tags, with
their latest metrics, params and tags. Through MLflow's `runs/search` a page of 1,000 runs
cost a server on PostgreSQL ~2.7 s here: ~35 ORM objects a run, then protobuf, then JSON
indented by two, and the client ~1 s more to parse it back through protobuf. The route
answers the question with four queries over MLflow's own tables (`runs`, `tags`, `params`,
`latest_metrics`, read through MLflow's table definitions) and compact JSON; the client
builds the same `mlflow.entities.Run`s a search returns, except for the runs' dataset
inputs and model outputs: no reader here uses them, and they come back empty. A test holds
the two answers equal.
"""

from __future__ import annotations

import math
from typing import Any

RUNS_PATH = "/ladder/api/runs"  # POST {"experiment_ids": [...], "tags": {key: value}}
INFO_FIELDS = ("run_uuid", "name", "experiment_id", "user_id", "status", "start_time",
               "end_time", "lifecycle_stage", "artifact_uri")  # fmt: skip


def read_runs(connection: Any, experiment_ids: list[int], tags: dict[str, str]) -> list[dict]:
    """The records of the active runs of the experiments whose tags include `tags`, the
    latest-started first (MLflow's default order); `connection` is a SQLAlchemy connection
    to a tracking store's database. Like MLflow's search (which loads a run's metrics,
    params and tags by queries of their own), each query sees the store as it is then: a
    run created meanwhile is left to the next read."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlParam, SqlRun, SqlTag
    from sqlalchemy import exists, select

    run, tag = SqlRun.__table__, SqlTag.__table__
    wanted = [run.c.experiment_id.in_(experiment_ids), run.c.lifecycle_stage == "active"]
    for key, value in tags.items():
        tagged = tag.alias()
        same = (tagged.c.run_uuid == run.c.run_uuid, tagged.c.key == key, tagged.c.value == value)
        wanted.append(exists().where(*same))
    infos = select(*(run.c[field] for field in INFO_FIELDS)).where(*wanted)
    records = {
        row.run_uuid: {"info": row._asdict(), "metrics": [], "params": [], "tags": []}
        for row in connection.execute(infos.order_by(run.c.start_time.desc(), run.c.run_uuid))
    }
    matching = select(run.c.run_uuid).where(*wanted)
    parts = {
        "metrics": (SqlLatestMetric.__table__, ("key", "value", "timestamp", "step", "is_nan")),
        "params": (SqlParam.__table__, ("key", "value")),
        "tags": (tag, ("key", "value")),
    }
    for part, (table, columns) in parts.items():
        query = select(table.c.run_uuid, *(table.c[column] for column in columns))
        for run_uuid, *values in connection.execute(query.where(table.c.run_uuid.in_(matching))):
            if run_uuid in records:
                records[run_uuid][part].append(values)
    return [record_of(record) for record in records.values()]


def record_of(record: dict) -> dict:
    """A run's record as it travels: a NaN metric as NaN (MLflow keeps it as 0 and a flag;
    Python's JSON writes and reads NaN), values as they are."""
    record["metrics"] = [
        [key, math.nan if is_nan else value, timestamp, step]
        for key, value, timestamp, step, is_nan in record["metrics"]
    ]
    return record


def runs_of(records: list[dict]) -> list[Any]:
    """The records as the `mlflow.entities.Run`s MLflow's search returns."""
    from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunInputs, RunOutputs, RunTag

    runs = []
    for record in records:
        info, tags = record["info"], [RunTag(key, value) for key, value in record["tags"]]
        name = info["name"] or next((t.value for t in tags if t.key == "mlflow.runName"), "")
        run_info = RunInfo(
            run_id=info["run_uuid"], experiment_id=str(info["experiment_id"]),
            user_id=info["user_id"], status=info["status"], start_time=info["start_time"],
            end_time=info["end_time"], lifecycle_stage=info["lifecycle_stage"],
            artifact_uri=info["artifact_uri"], run_name=name,
        )  # fmt: skip
        data = RunData(
            metrics=[Metric(*metric) for metric in record["metrics"]],
            params=[Param(key, value) for key, value in record["params"]],
            tags=tags,
        )
        runs.append(Run(run_info, data, RunInputs([], []), RunOutputs([])))
    return runs
