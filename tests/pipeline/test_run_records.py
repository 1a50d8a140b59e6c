"""`ladder server`'s runs route answers the sweep readers' search exactly as MLflow's own
search does, in one request; a server without the route is searched the MLflow way."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from pipeline.tracking.run_records import RUNS_PATH
from pipeline.tracking.schema import runs_from_ladder_server, search_all_runs, tag_filter

pytestmark = pytest.mark.slow  # real servers (~10 s each to start, once a session)


def varied_experiments(client: MlflowClient) -> list[str]:
    """Two experiments of runs with what a store holds besides plain numbers: a metric's
    later steps, NaN and infinities, a deleted run, a finished and a failed run, tags that
    differ from run to run."""
    ids = [client.create_experiment(f"records-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    for index in range(7):
        experiment = ids[index % 2]
        tags = {"ladder.role": "trial" if index % 3 else "sweep", "probe": str(index % 2)}
        run = client.create_run(experiment, start_time=1_000 + index // 2, tags=tags,
                                run_name=f"run-{index}")  # fmt: skip
        values = (0.5, math.nan, math.inf, -math.inf, 1e-300, 3.0, 2.0)
        metrics = [Metric("val/acc1", values[index], 10 + index, step) for step in (1, 3, 2)]
        metrics += [Metric("loss", float(step), 20, step) for step in range(index)]
        client.log_batch(run.info.run_id, metrics=metrics)
        client.log_param(run.info.run_id, "width", str(index / 4))
        if index == 4:
            client.delete_run(run.info.run_id)
        if index in (2, 5):
            client.set_terminated(run.info.run_id, "FAILED" if index == 5 else "FINISHED")
    return ids


def mlflows_search(client: MlflowClient, ids: list[str], tags: dict[str, str]) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(ids, tag_filter(**tags), page_token=token)
        runs.extend(page)
        if not (token := page.token):
            return runs


def as_text(runs: list) -> list[str]:
    """Runs as comparable text (NaN is not equal to itself)."""
    return [json.dumps(run.to_dictionary(), sort_keys=True) for run in runs]


def check_route_equals_search(url: str) -> None:
    client = MlflowClient(url)
    ids = varied_experiments(client)
    for wanted_ids, tags in (
        (ids, {}), (ids[:1], {}), (ids, {"ladder.role": "trial"}),
        (ids, {"ladder.role": "trial", "probe": "1"}), (ids, {"probe": "no such value"}),
    ):  # fmt: skip
        routed = runs_from_ladder_server(url, wanted_ids, tags)
        assert routed is not None, "the server did not answer the runs route"
        assert as_text(routed) == as_text(mlflows_search(client, wanted_ids, tags)), tags
        assert as_text(search_all_runs(client, wanted_ids, tags)) == as_text(routed)
    assert len(runs_from_ladder_server(url, ids, {})) == 6  # the deleted run left out


def test_the_routes_runs_are_mlflows_search_results(ladder_app_server):
    check_route_equals_search(ladder_app_server)


def test_a_plain_mlflow_server_is_searched_without_the_route(mlflow_server):
    client = MlflowClient(mlflow_server)
    ids = varied_experiments(client)
    assert runs_from_ladder_server(mlflow_server, ids, {}) is None
    assert as_text(search_all_runs(client, ids, {})) == as_text(mlflows_search(client, ids, {}))


@pytest.mark.parametrize(
    "query",
    [
        {"experiment_ids": "1"},
        {"experiment_ids": [1]},
        {"experiment_ids": ["1; DROP TABLE runs"]},
        {"experiment_ids": ["1"], "tags": {"probe": 1}},
        {"experiment_ids": ["1"], "tags": ["probe"]},
        {},
    ],
)
def test_a_malformed_query_is_refused_with_400(ladder_app_server, query):
    request = urllib.request.Request(
        ladder_app_server + RUNS_PATH, data=json.dumps(query).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert "experiment_ids" in refused.value.read().decode()
