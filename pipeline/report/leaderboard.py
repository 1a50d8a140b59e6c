"""`ladder leaderboard`: a sweep's trials ranked by best top-1, with their cost and Pareto mark.

Rows are read back from MLflow (the schema in pipeline/tracking/schema.py), never from Ray's
folders, so a leaderboard looks the same on a laptop's sqlite store and on a team server,
during a sweep and long after it. A trial is Pareto-optimal when no other trial is at
least as accurate for at most the cost (and strictly better in one of the two), the cost
being counted MACs, or measured inference throughput or latency (`--pareto-by`): a model
with few MACs is not always a fast one (depthwise convolutions, many thin layers).

A row is a model point: the trials of one model trained with several seeds (`--seeds K`,
names differing only by `_seed<n>`) share one row, their top-1 the mean ± the sample std,
with n; `pipeline.report.noise` says which rows and Pareto marks are ties within it.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from itertools import groupby
from pathlib import Path
from typing import Any

from lightning_modules import metric_names as metric
from lightning_modules.errors import InputError
from lightning_modules.specs import scaling_of
from pipeline.report.baseline_runs import Baseline
from pipeline.report.noise import front_ties, interval, mean_of, mean_std, rank_ties
from pipeline.tracking.schema import (
    epochs_done,
    gc_paused,
    point_of,
    search_all_runs,
    tag_filter,
)

FORMATS = ("table", "md", "csv", "json")
PARETO_BY = ("macs", "throughput", "latency")
ARTIFACT_NAME = "leaderboard"  # leaderboard.md, .csv and .json on the parent run


@dataclass(frozen=True)
class Row:
    """One model point as the leaderboard shows it: one trial, or the mean of the trials
    of its seeds (`point_rows`); accuracies are fractions, times seconds."""

    trial: str
    arch: str
    scaling: dict[str, str]  # {"alpha": "1.2", ...} or {"width": "1.0", ...}, as logged
    resolution: int | None
    params: float | None
    macs: float | None
    top1: float | None
    top5: float | None
    best_epoch: int | None
    epochs: int
    train_time: float | None
    status: str
    pareto: bool  # by the cost `--pareto-by` chose (MACs unless told)
    run_id: str
    activations: float | None = None  # counted, values per image
    throughput: float | None = None  # measured: inference images/s at batch 64
    latency_ms: float | None = None  # measured: batch 1
    train_throughput: float | None = None  # measured: training images/s, the last epoch's
    peak_memory_mb: float | None = None  # measured: of training
    seeds: list[int] = field(default_factory=list)  # the recipe seeds of its trials
    n: int = 1  # trials with a top-1: what `top1` is the mean of
    top1_std: float | None = None  # their sample std (n - 1); None below n = 2
    tie: bool = False  # top-1 not told apart from the row ranked just above
    pareto_tie: bool = False  # off the Pareto front, but not beyond noise


def latest_sweep_experiment(client: Any) -> Any | None:
    """The most recently created experiment holding a sweep's parent run, if any."""
    for experiment in client.search_experiments(order_by=["creation_time DESC"]):
        sweep = client.search_runs(
            [experiment.experiment_id],
            filter_string=tag_filter(**{"ladder.role": "sweep"}),
            max_results=1,
        )
        if sweep:
            return experiment
    return None


def resolve_experiment(client: Any, name: str | None) -> Any:
    """The experiment called `name`, or the latest sweep's; InputError naming the choices."""
    if name is None:
        experiment = latest_sweep_experiment(client)
        if experiment is None:
            raise InputError("the tracking store holds no sweep yet; run `ladder sweep` first")
        return experiment
    experiment = client.get_experiment_by_name(name)
    if experiment is None or experiment.lifecycle_stage != "active":
        names = sorted(e.name for e in client.search_experiments())
        raise InputError(
            f"--experiment {name!r}: no such experiment; existing: {', '.join(names) or 'none'}"
        )
    return experiment


def sweep_parent_id(client: Any, experiment_id: str) -> str | None:
    """The latest sweep parent run of an experiment (where its artifacts belong)."""
    parents = client.search_runs(
        [experiment_id],
        filter_string=tag_filter(**{"ladder.role": "sweep"}),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return parents[0].info.run_id if parents else None


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of the (macs, top1) points no other point dominates (cheaper-or-equal and
    at-least-as-accurate, strictly better in one).

    One pass in order of cost, not every pair (thousands of trials): a point is dominated
    exactly when a cheaper one is at least as accurate, or one of equal cost is more so.
    """
    front: set[int] = set()
    best_cheaper = float("-inf")  # the highest top-1 among strictly cheaper points
    for _, group in groupby(sorted(range(len(points)), key=lambda i: points[i][0]),
                            key=lambda i: points[i][0]):  # fmt: skip
        group = list(group)
        best_here = max(points[i][1] for i in group)
        if best_here > best_cheaper:
            front.update(i for i in group if points[i][1] == best_here)
        best_cheaper = max(best_cheaper, best_here)
    return front


def row_of(client: Any, run: Any) -> Row:
    metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
    best_epoch = metrics.get(metric.BEST_EPOCH)
    epochs = epochs_done(client, run)
    return Row(
        trial=run.info.run_name,
        arch=tags.get("ladder.arch") or params.get("arch", ""),
        scaling=scaling_of(params),
        resolution=int(params["resolution"]) if "resolution" in params else None,
        params=metrics.get(metric.MODEL_PARAMS),
        macs=metrics.get(metric.MODEL_MACS),
        top1=metrics.get(metric.BEST_VAL_ACC1),
        top5=metrics.get(metric.BEST_VAL_ACC5),
        best_epoch=int(best_epoch) if best_epoch is not None else None,
        epochs=epochs,
        train_time=metrics.get(metric.TRAIN_TOTAL_TIME),
        status=status_of(tags.get("ladder.status", "unknown"), epochs),
        pareto=False,
        run_id=run.info.run_id,
        activations=metrics.get(metric.MODEL_ACTIVATIONS),
        throughput=metrics.get(metric.MODEL_INFER_IMAGES_PER_SEC),
        latency_ms=metrics.get(metric.MODEL_LATENCY_MS),
        train_throughput=metrics.get(metric.TRAIN_IMAGES_PER_SEC),
        peak_memory_mb=metrics.get(metric.MODEL_PEAK_MEMORY_MB),
        seeds=[int(params["seed"])] if "seed" in params else [],
        n=int(metric.BEST_VAL_ACC1 in metrics),
    )


def point_rows(trials: list[Row]) -> list[Row]:
    """One row per model point: the trials whose names differ only by their seed."""
    points: dict[str, list[Row]] = {}
    for row in trials:
        points.setdefault(point_of(row.trial, row.seeds[0] if row.seeds else None), []).append(row)
    return [point_row(name, rows) for name, rows in points.items()]


def point_row(name: str, trials: list[Row]) -> Row:
    """The trials of one point as one row: top-1 and top-5, times and measured speeds are
    their means; the best trial gives its run (a point's params are the same in all), its
    best epoch, and counted sizes, which the seed does not change."""
    scored = [row for row in trials if row.top1 is not None]
    best = max(scored, key=lambda row: row.top1) if scored else trials[0]
    top1, std = mean_std([row.top1 for row in scored])
    return replace(
        best,
        trial=name,
        top1=top1,
        top1_std=std,
        n=len(scored),
        seeds=sorted(seed for row in trials for seed in row.seeds),
        top5=mean_of([row.top5 for row in scored]),
        epochs=max(row.epochs for row in trials),
        train_time=mean_of([row.train_time for row in trials]),
        status=point_status(trials),
        throughput=mean_of([row.throughput for row in trials]),
        latency_ms=mean_of([row.latency_ms for row in trials]),
        train_throughput=mean_of([row.train_throughput for row in trials]),
        peak_memory_mb=mean_of([row.peak_memory_mb for row in trials]),
    )


def status_of(status: str, epochs: int) -> str:
    """The trial's status as a person reads it: `stopped at epoch 1` for ASHA's early stops."""
    return f"stopped at epoch {epochs}" if status == "stopped" else status


def is_done(row: Row) -> bool:
    """Finished all its epochs, stopped early on purpose, or diverged: nothing to resume."""
    return row.status in ("finished", "diverged") or row.status.startswith("stopped")


def cost_of(row: Row, by: str) -> float | None:
    """The row's cost by `by` (one of PARETO_BY), lower being better; None if unknown."""
    if by == "macs":
        return row.macs
    if by == "latency":
        return row.latency_ms
    return -row.throughput if row.throughput else None


def costed(rows: list[Row], by: str) -> list[int]:
    """Indices of the rows that have a top-1 and a cost by `by`: the Pareto front's candidates."""
    return [
        i for i, row in enumerate(rows) if row.top1 is not None and cost_of(row, by) is not None
    ]


def pareto_rows(rows: list[Row], by: str) -> list[int]:
    """Indices of the rows on the Pareto front of top-1 against the cost `by`, in order."""
    ranked = costed(rows, by)
    front = pareto_front([(cost_of(rows[i], by), rows[i].top1) for i in ranked])
    return sorted(ranked[index] for index in front)


def point_status(trials: list[Row]) -> str:
    """The status that qualifies a point's mean most: that of a trial not done (`--resume`
    has work left), else of one stopped early, else finished."""
    return min(trials, key=lambda row: (is_done(row), not row.status.startswith("stopped"))).status


def leaderboard_rows(client: Any, experiment: str | None, pareto_by: str = "macs") -> list[Row]:
    """Every model point of the experiment called `experiment` (None: the latest sweep's),
    best mean top-1 first, Pareto-optimal ones by `pareto_by` marked, ties within the
    seeds' spread marked (`pipeline.report.noise`). Points without a finished epoch come last."""
    found = resolve_experiment(client, experiment)
    runs = search_all_runs(client, [found.experiment_id], {"ladder.role": "trial"})
    runs = [run for run in runs if run.data.tags.get("ladder.status") != "lost"]  # run again
    with gc_paused():  # the runs hold ~35 objects each: no rescans of them per new Row
        rows = point_rows([row_of(client, run) for run in runs])
    rows.sort(key=lambda row: (row.top1 is None, -(row.top1 or 0), row.macs or 0, row.trial))
    scored = [row for row in rows if row.top1 is not None]  # first, by the sort
    for index, tie in enumerate(rank_ties([interval(row.top1, row.top1_std) for row in scored])):
        rows[index] = replace(rows[index], tie=tie)
    front = pareto_rows(rows, pareto_by)
    for index in front:
        rows[index] = replace(rows[index], pareto=True)
    for index in pareto_tie_rows(rows, pareto_by, front):
        rows[index] = replace(rows[index], pareto_tie=True)
    return rows


def pareto_tie_rows(rows: list[Row], by: str, front: list[int]) -> list[int]:
    """Indices of the rows off the Pareto front by `by` that no row beats beyond noise."""
    ranked = costed(rows, by)
    position = {row_index: index for index, row_index in enumerate(ranked)}
    points = [(cost_of(rows[i], by), interval(rows[i].top1, rows[i].top1_std)) for i in ranked]
    ties = front_ties(points, {position[i] for i in front})
    return sorted(ranked[index] for index in ties)


def human(count: float | None) -> str:
    """1234567 -> 1.23M: params and MACs span six orders of magnitude across the ladder."""
    if count is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(count) >= scale:
            return f"{count / scale:.3g}{unit}"
    return f"{count:.3g}"


def scaling_text(scaling: dict[str, str]) -> str:
    """`alpha=1.2 beta=1.1`: the table's and the CSV's form of a trial's scaling."""
    return " ".join(f"{key}={value}" for key, value in scaling.items())


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.2f}"


def pareto_mark(row: Row) -> str:
    """`*` on the Pareto front, `=` off it but not beyond noise (`pipeline.report.noise`)."""
    return "*" if row.pareto else "=" if row.pareto_tie else ""


def rate(images_per_sec: float | None) -> str:
    return "-" if images_per_sec is None else f"{images_per_sec:.3g}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


HEADER = ("#", "trial", "arch", "scaling", "res", "params", "MACs", "acts", "img/s",
          "latency", "train img/s", "peak mem", "top-1 %", "± std", "n", "tie", "top-5 %",
          "best ep", "epochs", "train time", "status", "pareto")  # fmt: skip


def cells(rank: int, row: Row) -> tuple[str, ...]:
    return (
        str(rank),
        row.trial,
        row.arch,
        scaling_text(row.scaling) or "-",
        str(row.resolution or "-"),
        human(row.params),
        human(row.macs),
        human(row.activations),
        rate(row.throughput),
        "-" if row.latency_ms is None else f"{row.latency_ms:.3g}ms",
        rate(row.train_throughput),
        "-" if row.peak_memory_mb is None else f"{row.peak_memory_mb:.0f}MB",
        percent(row.top1),
        percent(row.top1_std),
        str(row.n),
        "=" if row.tie else "",
        percent(row.top5),
        str(row.best_epoch or "-"),
        str(row.epochs),
        duration(row.train_time),
        row.status,
        pareto_mark(row),
    )


def format_rows(rows: list[Row], fmt: str) -> str:
    """The leaderboard as text: `table` for a terminal, `md`, `csv` or `json` for files."""
    if fmt == "json":
        return json.dumps([asdict(row) for row in rows], indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([field.name for field in fields(Row)])
        writer.writerows([{**asdict(row), "scaling": scaling_text(row.scaling),
                           "seeds": " ".join(map(str, row.seeds))}.values()
                          for row in rows])  # fmt: skip
        return out.getvalue()
    lines = [cells(rank, row) for rank, row in enumerate(rows, 1)]
    if fmt == "md":
        table = [HEADER, tuple("---" for _ in HEADER), *lines]
        return "\n".join("| " + " | ".join(line) + " |" for line in table) + "\n"
    widths = [max(len(line[i]) for line in [HEADER, *lines]) for i in range(len(HEADER))]
    return (
        "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in [HEADER, *lines]
        )
        + "\n"
    )


def baseline_row(baseline: Baseline) -> Row:
    """A baseline as a csv/json row, marked by its status: not a trial, never ranked."""
    return Row(trial=f"baseline-{baseline.model}", arch=baseline.model, scaling={},
               resolution=None, params=None, macs=None, top1=baseline.top1, top5=None,
               best_epoch=None, epochs=0, train_time=None, status="baseline", pareto=False,
               run_id=baseline.run_id)  # fmt: skip


def format_with_baselines(rows: list[Row], baselines: list[Baseline], fmt: str) -> str:
    """The leaderboard with its baselines: rows marked `baseline` in csv and json, a line
    each below the table or markdown, the line the trials have to beat."""
    if fmt in ("csv", "json"):
        return format_rows(rows + [baseline_row(b) for b in baselines], fmt)
    lines = [f"{b.label}: {percent(b.top1)}% top-1 — the line to beat" for b in baselines]
    return format_rows(rows, fmt) + "".join(f"\n{line}" for line in lines) + "\n" * bool(lines)


def write_leaderboard(client: Any, parent_run_id: str, rows: list[Row]) -> None:
    """Attach leaderboard.md, .csv and .json to the sweep's parent run."""
    with tempfile.TemporaryDirectory() as folder:
        for fmt, suffix in (("md", "md"), ("csv", "csv"), ("json", "json")):
            path = Path(folder) / f"{ARTIFACT_NAME}.{suffix}"
            path.write_text(format_rows(rows, fmt), encoding="utf-8")
        client.log_artifacts(parent_run_id, folder)
