"""The MLflow UI page `ladder ui` opens: a sweep's trials as the leaderboard shows them.

MLflow 3 opens an experiment in GenAI mode, on its traces, with the parent run collapsed.
Two experiment tags change that, both read by MLflow's own UI:

- `mlflow.experimentKind = custom_model_development`: a model-training experiment, opened
  on its runs (the `workflowType=machine_learning` URL parameter says the same).
- `mlflow.sharedViewState.ladder`: a saved view, the JSON that MLflow's "Share" button
  stores, loaded by `?viewStateShareKey=ladder`: the trials only, best top-1 first, the
  leaderboard's columns, and a chart of top-1 against MACs (`compareRunsMode=CHART`).
"""

from __future__ import annotations

import json
from typing import Any

from lightning_modules.metric_names import BEST_VAL_ACC1, MODEL_MACS, MODEL_PARAMS

VIEW_KEY = "ladder"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
KIND_TAG, TRAINING_KIND = "mlflow.experimentKind", "custom_model_development"
PARAMS = ("arch", "resolution", "alpha", "beta", "gamma")
SECTION = "ladder-top1-vs-macs"


def column(kind: str, key: str) -> str:
    """MLflow's canonical key of a runs-table column: metrics.`val/acc1`."""
    return f"{kind}.`{key}`"


def view_state() -> dict[str, Any]:
    """The saved view: MLflow's search facets and runs-page UI state, as its UI saves them."""
    chart = {
        "uuid": "ladder-top1-vs-macs-chart",
        "type": "SCATTER",
        "displayName": "top-1 vs MACs",
        "runsCountToCompare": 100,
        "metricSectionId": SECTION,
        "deleted": False,
        "isGenerated": False,
        "xaxis": {"key": MODEL_MACS, "type": "METRIC"},
        "yaxis": {"key": BEST_VAL_ACC1, "type": "METRIC"},
    }
    return {
        "searchFilter": "tags.`ladder.role` = 'trial'",
        "orderByKey": column("metrics", BEST_VAL_ACC1),
        "orderByAsc": False,
        "selectedColumns": [
            column("metrics", BEST_VAL_ACC1),
            column("metrics", MODEL_MACS),
            column("metrics", MODEL_PARAMS),
            *(column("params", key) for key in PARAMS),
            column("tags", "ladder.status"),
        ],
        "compareRunCharts": [chart],
        "compareRunSections": [
            {"uuid": SECTION, "name": "top-1 vs MACs", "display": True, "isReordered": False}
        ],
        "isAccordionReordered": True,  # our section first, not sorted among MLflow's own
        "runsHiddenMode": "SHOW_ALL",
        "hideEmptyCharts": True,
    }


def prepare_view(client: Any, experiment: Any) -> None:
    """Tag the experiment as model training and save the view (both idempotent)."""
    tags = experiment.tags
    if tags.get(KIND_TAG) != TRAINING_KIND:
        client.set_experiment_tag(experiment.experiment_id, KIND_TAG, TRAINING_KIND)
    state = json.dumps(view_state())
    if tags.get(VIEW_TAG) != state:
        client.set_experiment_tag(experiment.experiment_id, VIEW_TAG, state)


def view_urls(url: str, experiment_id: str) -> tuple[str, str]:
    """The trials table and the top-1 vs MACs chart of the saved view."""
    page = (
        f"{url}/#/experiments/{experiment_id}/runs"
        f"?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning"
    )
    return page, f"{page}&compareRunsMode=CHART"
