"""`ladder chart`: where a sweep's trials land beside the published ImageNet results.

Each chart is a PNG (matplotlib, for reports) and a self-contained HTML page (plotly
with its JavaScript inline, so it opens offline and inside the MLflow UI):

- `imagenet_challenge`: the ILSVRC winners' top-5 error by year (bars), human level, the
  landmark models' top-1 error at their year, and the user's trials at their
  architecture's year, top-5 and top-1 error alike.
- `accuracy_vs_macs`: top-1 against multiply-adds (log axis) for the user's trials and
  their Pareto front, beside the published ResNet, EfficientNet, MobileNetV2 and VGG.
- `accuracy_vs_throughput`: top-1 against the inference images/s each trial measured
  after training, and the Pareto front by that speed.
- `scaling` and `balance`: the EfficientNet paper's Figures 3 and 4, top-1 against
  counted FLOPs, one curve per dimension scaled alone (space `single_dimension`) or per
  (depth, resolution) under a width sweep (space `width_by_depth_resolution`).
- `reference`: the data set's own published table beside the user's runs, per
  architecture (pipeline/report/reference_chart.py, which also draws `ladder baseline`'s lines
  on accuracy vs MACs).

A plain `ladder chart` draws the first three and the paper's figure that fits the
sweep's space; `--figure NAME` draws the charts named.
They are attached to the sweep's parent run, so they show in the MLflow UI. A user's
numbers come from their own data set, which is usually not ImageNet: the charts say so.

A chart is first described as plain data, a `Chart` of `Series` (chart_data.py), by one
function that makes every decision particular to it (which points, which labels, the
axes: challenge_chart.py, cost_charts.py, scaling_charts.py, reference_chart.py); then
render_png.py and render_html.py draw any `Chart`. A new chart is a new such function,
and the PNG and the HTML page of one chart cannot drift apart. This module names the
charts, writes them and attaches them to the sweep's MLflow run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.report.baseline_runs import Baseline, baselines_of
from pipeline.report.challenge_chart import challenge_chart
from pipeline.report.chart_data import Chart, with_accuracy
from pipeline.report.cost_charts import macs_chart, throughput_chart
from pipeline.report.leaderboard import (
    Row,
    latest_sweep_experiment,
    leaderboard_rows,
    resolve_experiment,
    sweep_parent_id,
)
from pipeline.report.reference_chart import reference_chart, reference_dataset, with_baselines
from pipeline.report.references import References, load_references
from pipeline.report.render_html import render_html
from pipeline.report.render_png import render_png
from pipeline.report.scaling_charts import balance_chart, scaling_chart
from pipeline.tracking.schema import is_server, open_client, tracking_uri

CHALLENGE = "imagenet_challenge"
ACCURACY_VS_MACS = "accuracy_vs_macs"
ACCURACY_VS_THROUGHPUT = "accuracy_vs_throughput"
SCALING = "scaling"  # the EfficientNet paper's Figure 3
BALANCE = "balance"  # its Figure 4
REFERENCE = "reference"  # the data set's published table against yours
CHART_NAMES = (CHALLENGE, ACCURACY_VS_MACS, ACCURACY_VS_THROUGHPUT, SCALING, BALANCE, REFERENCE)
DEFAULT_CHARTS = (CHALLENGE, ACCURACY_VS_MACS, ACCURACY_VS_THROUGHPUT)
SPACE_FIGURES = {"single_dimension": SCALING, "width_by_depth_resolution": BALANCE}
ARTIFACT_PATH = "charts"


def chart_makers(
    references: References, baselines: list[Baseline], dataset: str | None
) -> dict[str, Callable[[list[Row]], Chart]]:
    """Every chart by name: what `--figure` takes and the files are called."""
    return {
        CHALLENGE: lambda rows: challenge_chart(rows, references),
        ACCURACY_VS_MACS: lambda rows: with_baselines(macs_chart(rows, references), baselines),
        ACCURACY_VS_THROUGHPUT: throughput_chart,
        SCALING: scaling_chart,
        BALANCE: balance_chart,
        REFERENCE: lambda rows: reference_chart(rows, baselines, dataset),
    }


def charts_for(space: str | None) -> tuple[str, ...]:
    """What a plain `ladder chart` draws: the three charts of every sweep, and the paper's
    figure that fits the sweep's space, if one does."""
    figure = SPACE_FIGURES.get(space or "")
    return DEFAULT_CHARTS + ((figure,) if figure else ())


def write_charts(
    rows: list[Row],
    out: Path,
    names: tuple[str, ...],
    baselines: list[Baseline] | None = None,
    dataset: str | None = None,
) -> list[Path]:
    """The charts called `names` as PNG and HTML under `out`; returns the files written.
    `dataset` names the published table of the `reference` figure."""
    makers = chart_makers(load_references(), baselines or [], dataset)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        chart = makers[name](rows)
        render_png(chart, out / f"{name}.png")
        render_html(chart, out / f"{name}.html")
        written += [out / f"{name}.png", out / f"{name}.html"]
    return written


def sweep_of(experiment: str | None) -> tuple[Any, Any] | None:
    """(client, experiment) to chart, or None when there is no sweep yet (published only);
    `experiment` None means the latest sweep's."""
    uri = tracking_uri()
    no_store = not is_server(uri) and not Path(uri.removeprefix("sqlite:///")).is_file()
    if experiment is None and no_store:
        return None
    client = open_client(uri)
    if experiment is None:
        latest = latest_sweep_experiment(client)
        return (client, latest) if latest is not None else None
    return client, resolve_experiment(client, experiment)


def draw_charts(
    out: Path, experiment: str | None = None, figures: Sequence[str] = ()
) -> list[Path]:
    """Write `figures` (default: `charts_for` the sweep's space) of `experiment`'s trials
    (default: the latest sweep's) under `out` and attach them to the sweep's run; return
    the files. A note on stderr, as the charts' own, when no trial has finished yet."""
    sweep = sweep_of(experiment)
    rows = leaderboard_rows(sweep[0], sweep[1].name) if sweep else []
    if not with_accuracy(rows):
        what = f"experiment {sweep[1].name!r} has" if sweep else "the tracking store has"
        print(
            f"ladder chart: {what} no finished trial yet; drawing the published results only",
            file=sys.stderr,
        )
    parent_id = sweep_parent_id(sweep[0], sweep[1].experiment_id) if sweep else None
    space = sweep[0].get_run(parent_id).data.tags.get("ladder.space") if parent_id else None
    names = tuple(figures or charts_for(space))
    baselines = baselines_of(sweep[0], sweep[1].experiment_id) if sweep else []
    written = write_charts(rows, out, names, baselines, reference_dataset(sweep, names))
    if parent_id is not None:
        for path in written:
            sweep[0].log_artifact(parent_id, str(path), ARTIFACT_PATH)
    return written
