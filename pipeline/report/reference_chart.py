"""Reference lines on the charts: the baselines to beat, and `ladder chart --figure reference`.

- Every baseline (`ladder baseline`, pipeline/report/baseline_runs.py) is a horizontal dashed
  line across accuracy vs MACs, labelled with its name and accuracy: a classic model has
  no MACs worth the name, and a network below its line has not earned its cost.
- `reference`: the data set's own table of published results (pipeline/report/references/) beside
  the user's, one column per architecture of the zoo: the published results that match it
  (hollow diamonds), each of the user's runs (small stars) and their mean ± std (a large
  star, labelled). Published results without a ladder architecture share the column
  "other"; the published classic models and human level are dotted lines, the user's own
  baselines dashed ones. It compares like with like only roughly: the published rows used
  their own preprocessing, epochs and test split, which their hover texts name.

The charts are plain `Chart` data (pipeline/report/chart_data.py), drawn by
pipeline/report/charts.py.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.manifest import MANIFEST, load_manifest
from pipeline.report.baseline_runs import Baseline
from pipeline.report.chart_data import YOURS, Axis, Chart, Rule, Series, with_accuracy
from pipeline.report.leaderboard import Row
from pipeline.report.references import (
    DatasetReferences,
    PublishedResult,
    dataset_name,
    load_dataset_references,
)
from pipeline.tracking.schema import search_all_runs

BASELINE_COLOR = "#444444"
PUBLISHED_COLOR = "#1f77b4"
LINE_COLORS = ("#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2")  # not yours
OTHER = "other"  # the column of published networks the zoo does not have
OFFSET = 0.15  # published left of a column's centre, yours right of it


def baseline_rules(baselines: list[Baseline]) -> tuple[Rule, ...]:
    return tuple(
        Rule(100 * b.top1, BASELINE_COLOR, "dash", f"{b.label}: {100 * b.top1:.2f}%")
        for b in baselines
    )


def with_baselines(chart: Chart, baselines: list[Baseline]) -> Chart:
    """`chart` with each baseline as a dashed horizontal line at its top-1."""
    return replace(chart, hlines=chart.hlines + baseline_rules(baselines))


def reference_dataset(sweep: tuple[Any, Any] | None, names: tuple[str, ...]) -> str | None:
    """The data set whose table `--figure reference` draws; None when it is not asked for."""
    if "reference" not in names:
        return None
    if sweep is None:
        raise InputError("--figure reference: no sweep to compare yet; run `ladder sweep` first")
    dataset = experiment_dataset(sweep[0], sweep[1].experiment_id)
    load_dataset_references(dataset)  # one line naming those with references, before any file
    return dataset


def experiment_dataset(client: Any, experiment_id: str) -> str:
    """The data set an experiment's runs trained on: a run's `ladder.dataset` tag (as
    `ladder baseline` sets it), else the manifest of a run's `data` folder, when that
    folder is on this machine. The one place a sweep's data set is looked up."""
    folders = []
    for run in search_all_runs(client, [experiment_id], {}):
        tagged = run.data.tags.get("ladder.dataset")
        if tagged and tagged != "unknown":
            return tagged
        folders.append(run.data.params.get("data"))
    for folder in dict.fromkeys(f for f in folders if f):
        if (Path(folder) / MANIFEST).is_file():
            name = dataset_name(load_manifest(folder))
            if name:
                return name
    raise InputError(
        "--figure reference: cannot tell which data set this experiment trained on (no run "
        "tagged ladder.dataset, and no run's data folder with a manifest naming one here)"
    )


def columns(references: DatasetReferences, rows: list[Row]) -> list[str]:
    """The published architectures in the table's order, then the user's others, then
    "other" when some published network has no architecture of the zoo."""
    networks = [r for r in references.results if r.kind == "network"]
    names = [r.arch for r in networks if r.arch] + [row.arch for row in rows]
    return list(dict.fromkeys(names)) + ([OTHER] if any(not r.arch for r in networks) else [])


def published_points(references: DatasetReferences, where: dict[str, int]) -> Series:
    networks = [r for r in references.results if r.kind == "network"]
    return Series(
        "published",
        "markers",
        xs=tuple(where[r.arch or OTHER] - OFFSET for r in networks),
        ys=tuple(r.top1 for r in networks),
        color=PUBLISHED_COLOR,
        marker="circle-open",
        size=9,
        labels=tuple(f"{r.name} {r.top1:g}" for r in networks),
        label_position="middle right",
        label_size=7,
        hovertexts=tuple(published_text(r) for r in networks),
    )


def published_text(result: PublishedResult) -> str:
    return f"{result.name}: {result.top1:g}% top-1\n{result.preprocessing}\n{result.source}"


def mean_std(rows: list[Row]) -> tuple[float, float | None, int]:
    """(mean, std, n) top-1 in percent of an architecture's points: one point's own seeds
    (the leaderboard's mean and std), or the spread of several points' means."""
    if len(rows) == 1:
        row = rows[0]
        std = None if row.top1_std is None else 100 * row.top1_std
        return 100 * row.top1, std, row.n
    means = [100 * row.top1 for row in rows]
    return statistics.mean(means), statistics.stdev(means), len(means)


def mean_text(mean: float, std: float | None, n: int) -> str:
    """`91.20 ± 0.40 (n=3)`, or the one value: percent."""
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f} (n={n})"


def your_points(rows: list[Row], where: dict[str, int]) -> list[Series]:
    """Each point of the user's (a model's seeds already averaged by the leaderboard), and
    each architecture's mean ± std with its error bar."""
    by_arch: dict[str, list[Row]] = {}
    for row in rows:
        by_arch.setdefault(row.arch, []).append(row)
    stats = [mean_std(arch_rows) for arch_rows in by_arch.values()]
    each = Series(
        "yours (each point)",
        "markers",
        xs=tuple(where[row.arch] + OFFSET for row in rows),
        ys=tuple(100 * row.top1 for row in rows),
        color=YOURS,
        marker="star",
        size=6,
        hovertexts=tuple(f"{row.trial}: {100 * row.top1:.2f}% top-1 (n={row.n})" for row in rows),
    )
    means = Series(
        "yours (mean ± std)",
        "markers",
        xs=tuple(where[arch] + OFFSET for arch in by_arch),
        ys=tuple(mean for mean, _, _ in stats),
        color=YOURS,
        marker="star",
        size=13,
        labels=tuple(f"yours {mean_text(*stat)}" for stat in stats),
        label_position="top center",  # above its error bar, clear of the next column's labels
        errors=tuple(std for _, std, _ in stats),
    )
    return [each, means] if rows else []


def published_lines(references: DatasetReferences) -> tuple[Rule, ...]:
    """The published models that are not networks (classic ones, human level) as dotted
    lines, each its own color, so that the legend tells them apart."""
    classic = [r for r in references.results if r.kind != "network"]
    return tuple(
        Rule(r.top1, LINE_COLORS[i % len(LINE_COLORS)], "dot", f"{r.name} (published): {r.top1:g}%")
        for i, r in enumerate(classic)
    )


def reference_chart(rows: list[Row], baselines: list[Baseline], dataset: str) -> Chart:
    """Published vs yours on the data set's own table, per architecture of the ladder."""
    references = load_dataset_references(dataset)
    yours = with_accuracy(rows)
    names = columns(references, yours)
    where = {name: index for index, name in enumerate(names)}
    return Chart(
        title=f"{dataset}: published results against yours, per architecture",
        note="published: the data set's own table (each row's source in its hover text), "
        "each with its own preprocessing and epochs",
        x=Axis("architecture", ticks=tuple(enumerate(names)), limits=(-0.6, len(names) + 0.4)),
        y=Axis("top-1 accuracy (%)"),
        series=(published_points(references, where), *your_points(yours, where)),
        hlines=published_lines(references) + baseline_rules(baselines),
    )
