"""`ladder chart`: where a sweep's trials land beside the published ImageNet results.

Two charts, each as a PNG (matplotlib, for reports) and a self-contained HTML page
(plotly with its JavaScript inline, so it opens offline and inside the MLflow UI):

- `imagenet_challenge`: the ILSVRC winners' top-5 error by year (bars), human level, the
  landmark models' top-1 error at their year, and the user's trials at their
  architecture's year, top-5 and top-1 error alike.
- `accuracy_vs_macs`: top-1 against multiply-adds (log axis) for the user's trials and
  their Pareto front, beside the published ResNet, EfficientNet, MobileNetV2 and VGG.

Both are attached to the sweep's parent run, so they show in the MLflow UI. A user's
numbers come from their own data set, which is usually not ImageNet: the charts say so.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from pipeline.leaderboard import (
    Row,
    human,
    latest_sweep_experiment,
    leaderboard_rows,
    resolve_experiment,
    sweep_parent_id,
)
from pipeline.references import References, load_references
from pipeline.tracking import is_server, open_client, tracking_uri

CHALLENGE = "imagenet_challenge"
ACCURACY_VS_MACS = "accuracy_vs_macs"
CHARTS = (CHALLENGE, ACCURACY_VS_MACS)
ARTIFACT_PATH = "charts"
FAMILY_COLORS = {
    "AlexNet": "#8c564b",
    "VGG": "#9467bd",
    "ResNet": "#1f77b4",
    "MobileNetV2": "#2ca02c",
    "EfficientNet": "#ff7f0e",
}
YOURS = "#d62728"
WINNER_BARS = "#c7d6e8"
YOURS_NOTE = "yours: measured on your data set, which is ImageNet only if you trained on it"


def short_scaling(row: Row) -> str:
    """`α1.2 β1.1 γ1.15`: labels must stay short on a chart."""
    symbols = {"alpha": "α", "beta": "β", "gamma": "γ", "phi": "φ", "width": "w", "depth": "d"}
    return " ".join(f"{symbols[key]}{value}" for key, value in row.scaling.items())


def label_of(row: Row) -> str:
    """`yours: resnet50 @224px`, with the scaling for scaled architectures."""
    scaling = f" {short_scaling(row)}" if row.scaling else ""
    resolution = f" @{row.resolution}px" if row.resolution else ""
    return f"yours: {row.arch}{scaling}{resolution}"


def finished(rows: list[Row]) -> list[Row]:
    """Trials with at least one finished epoch (the rest have no accuracy yet)."""
    return [row for row in rows if row.top1 is not None]


def dated(rows: list[Row], references: References) -> list[tuple[int, Row]]:
    """(year, trial) for the trials whose architecture has a known publication year."""
    pairs = [(references.year_of(row.arch), row) for row in finished(rows)]
    unknown = sorted({row.arch for year, row in pairs if year is None})
    if unknown:
        print(
            f"ladder chart: no year known for {', '.join(unknown)}; not on the challenge chart",
            file=sys.stderr,
        )
    return [(year, row) for year, row in pairs if year is not None]


def error(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * (1.0 - fraction)


def pareto_rows(rows: list[Row]) -> list[Row]:
    return sorted((row for row in rows if row.pareto), key=lambda row: row.macs)


def on_macs_axis(rows: list[Row]) -> list[Row]:
    return [row for row in finished(rows) if row.macs]


# ---- the ImageNet challenge chart


@dataclass
class Challenge:
    """What the challenge chart shows, in x positions shared by both renderings.

    Years before the first challenge (LeNet-5's 1998) are packed just left of 2010, so a
    LeNet run does not stretch the axis over an empty decade.
    """

    positions: dict[int, int]  # year -> x
    points: list[tuple[float, Row]]  # (x, trial), the user's, right of their year
    labelled: dict[int, str]  # index into points -> label: the best trial of each year

    @classmethod
    def of(cls, rows: list[Row], references: References) -> Challenge:
        pairs = dated(rows, references)
        first = min(winner.year for winner in references.winners)
        last = max([model.year for model in references.models] + [y for y, _ in pairs])
        years = sorted(set(range(first, last + 1)) | {year for year, _ in pairs})
        positions = {year: x for x, year in enumerate(years)}
        points = [(positions[year] + 0.2, row) for year, row in pairs]
        labelled = {}
        for year in {year for year, _ in pairs}:
            group = [i for i, (y, _) in enumerate(pairs) if y == year]
            best = max(group, key=lambda i: pairs[i][1].top1)
            more = f" (+{len(group) - 1} more)" if len(group) > 1 else ""
            labelled[best] = label_of(pairs[best][1]) + more
        return cls(positions, points, labelled)

    def breaks(self) -> list[float]:
        """x between two shown years that are not consecutive (where the axis is cut)."""
        years = sorted(self.positions)
        return [self.positions[a] + 0.5 for a, b in pairwise(years) if b - a > 1]


def challenge_png(chart: Challenge, references: References, path: Path) -> None:
    from matplotlib.figure import Figure

    x = chart.positions
    figure = Figure(figsize=(12, 7.5), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    for winner in references.winners:
        axes.bar(
            x[winner.year],
            winner.top5_error,
            width=0.7,
            color=WINNER_BARS,
            edgecolor="#5b7fa8",
            zorder=1,
        )
        axes.annotate(
            winner.team.replace("-", "-\n") + f"\n{winner.top5_error:g}",
            (x[winner.year], winner.top5_error),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color="#33506f",
        )
    axes.bar([], [], color=WINNER_BARS, edgecolor="#5b7fa8", label="ILSVRC winner, top-5 error")
    axes.axhline(
        references.human.top5_error,
        color="#444",
        linestyle="--",
        linewidth=1.2,
        label=f"human top-5 error ({references.human.top5_error:g}%)",
    )
    for family, models in references.by_family().items():
        axes.scatter(
            [x[m.year] - 0.2 for m in models],
            [m.top1_error for m in models],
            marker="D",
            s=28,
            color=FAMILY_COLORS.get(family, "#7f7f7f"),
            zorder=3,
            label=f"{family}, published top-1 error",
        )
    if chart.points:
        xs = [px for px, _ in chart.points]
        axes.scatter(
            xs,
            [error(row.top5) for _, row in chart.points],
            marker="*",
            s=140,
            color=YOURS,
            zorder=4,
            label="yours, top-5 error",
        )
        axes.scatter(
            xs,
            [error(row.top1) for _, row in chart.points],
            marker="o",
            s=40,
            facecolors="none",
            edgecolors=YOURS,
            zorder=4,
            label="yours, top-1 error",
        )
        for index, label in chart.labelled.items():
            px, row = chart.points[index]
            axes.annotate(
                label,
                (px, error(row.top1)),
                xytext=(6, 0),
                textcoords="offset points",
                fontsize=8,
                color=YOURS,
                va="center",
            )
    for cut in chart.breaks():
        axes.axvline(cut, color="#999", linestyle=":", linewidth=1)
    axes.set_xticks(list(x.values()), [str(year) for year in x])
    axes.set_xlim(-0.7, max(x.values()) + 2.2)
    axes.set_ylim(0, None)
    axes.set_xlabel(
        "year (the dotted line cuts out the years without a result)" if chart.breaks() else "year"
    )
    axes.set_ylabel("ImageNet classification error (%)")
    axes.set_title(
        "The ImageNet challenge: winners' top-5 error, landmark models' top-1 error, and your runs"
    )
    axes.grid(axis="y", alpha=0.3)
    axes.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=4,
        fontsize=8,
        title=YOURS_NOTE if chart.points else None,
        title_fontsize=8,
    )
    figure.savefig(path)


def challenge_html(chart: Challenge, references: References, path: Path) -> None:
    import plotly.graph_objects as go

    x = chart.positions
    figure = go.Figure()
    figure.add_bar(
        x=[x[w.year] for w in references.winners],
        y=[w.top5_error for w in references.winners],
        text=[f"{w.team} {w.top5_error:g}" for w in references.winners],
        hovertext=[
            f"{w.year} {w.team} ({w.entry}): top-5 error {w.top5_error:g}%<br>{w.source}"
            for w in references.winners
        ],
        hoverinfo="text",
        marker_color=WINNER_BARS,
        textposition="outside",
        textangle=0,
        cliponaxis=False,
        name="ILSVRC winner, top-5 error",
    )
    figure.add_hline(
        y=references.human.top5_error,
        line_dash="dash",
        annotation_text=f"human top-5 error {references.human.top5_error:g}%",
    )
    for family, models in references.by_family().items():
        figure.add_scatter(
            x=[x[m.year] - 0.2 for m in models],
            y=[m.top1_error for m in models],
            mode="markers",
            marker={"symbol": "diamond", "color": FAMILY_COLORS.get(family, "#7f7f7f")},
            hovertext=[
                f"{m.name} ({m.year}): top-1 error {m.top1_error:.2f}%<br>{m.source}"
                for m in models
            ],
            hoverinfo="text",
            name=f"{family}, published top-1 error",
        )
    if chart.points:
        labels = [label_of(row) for _, row in chart.points]
        for name, key, symbol in (("top-5", "top5", "star"), ("top-1", "top1", "circle-open")):
            values = [error(getattr(row, key)) for _, row in chart.points]
            figure.add_scatter(
                x=[px for px, _ in chart.points],
                y=values,
                mode="markers+text",
                text=[
                    chart.labelled.get(i, "") if name == "top-1" else "" for i in range(len(labels))
                ],
                textposition="middle right",
                cliponaxis=False,
                marker={"symbol": symbol, "color": YOURS, "size": 12},
                hovertext=[
                    f"{label}: {name} error {value:.2f}%"
                    for label, value in zip(labels, values, strict=True)
                ],
                hoverinfo="text",
                name=f"yours, {name} error",
            )
    figure.update_layout(
        title="The ImageNet challenge: winners' top-5 error, landmark models' top-1 error, "
        "and your runs" + (f"<br><sup>{YOURS_NOTE}</sup>" if chart.points else ""),
        xaxis={
            "title": "year",
            "tickvals": list(x.values()),
            "ticktext": [str(year) for year in x],
            "range": [-0.7, max(x.values()) + 2.5],  # room for the labels right of 2019
        },
        yaxis={"title": "ImageNet classification error (%)", "rangemode": "tozero"},
        uniformtext={"minsize": 10, "mode": "show"},  # bar labels readable, not shrunk to fit
        template="plotly_white",
    )
    for cut in chart.breaks():
        figure.add_vline(x=cut, line_dash="dot", line_color="#999")
    figure.write_html(path, include_plotlyjs=True)


# ---- accuracy against multiply-adds


def macs_png(rows: list[Row], references: References, path: Path) -> None:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator

    figure = Figure(figsize=(12, 7), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    for family, models in references.by_family().items():
        color = FAMILY_COLORS.get(family, "#7f7f7f")
        axes.plot(
            [m.macs for m in models],
            [m.top1 for m in models],
            marker="o",
            markersize=5,
            color=color,
            linewidth=1.4,
            label=f"{family} (published)",
        )
        for model in models:
            axes.annotate(
                model.name.removeprefix(family).strip("-") or model.name,
                (model.macs, model.top1),
                xytext=(4, -9),
                textcoords="offset points",
                fontsize=7,
                color=color,
            )
    yours = on_macs_axis(rows)
    if yours:
        axes.scatter(
            [row.macs for row in yours],
            [100 * row.top1 for row in yours],
            marker="*",
            s=120,
            color=YOURS,
            zorder=4,
            label="yours (best top-1 per trial)",
        )
        front = pareto_rows(yours)
        axes.plot(
            [row.macs for row in front],
            [100 * row.top1 for row in front],
            drawstyle="steps-post",
            color=YOURS,
            linewidth=1.2,
            linestyle=":",
            label="yours, Pareto front",
        )
        for row in front if len(yours) > 8 else yours:
            axes.annotate(
                label_of(row),
                (row.macs, 100 * row.top1),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=8,
                color=YOURS,
            )
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: human(value)))
    axes.set_xlabel("multiply-adds per image (MACs, log scale)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title("Top-1 accuracy against cost: your trials beside the published families")
    axes.grid(which="major", alpha=0.3)
    axes.grid(which="minor", axis="x", alpha=0.1)
    axes.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        title=YOURS_NOTE.replace(", which", ",\nwhich") if yours else None,
        title_fontsize=7,
    )
    figure.savefig(path)


def macs_html(rows: list[Row], references: References, path: Path) -> None:
    import plotly.graph_objects as go

    figure = go.Figure()
    for family, models in references.by_family().items():
        figure.add_scatter(
            x=[m.macs for m in models],
            y=[m.top1 for m in models],
            mode="lines+markers",
            line={"color": FAMILY_COLORS.get(family, "#7f7f7f")},
            hovertext=[
                f"{m.name}: {m.top1:g}% top-1, {human(m.macs)} MACs, "
                f"{human(m.params)} params<br>{m.source}"
                for m in models
            ],
            hoverinfo="text",
            name=f"{family} (published)",
        )
    yours = on_macs_axis(rows)
    if yours:
        labels = [label_of(row) for row in yours]
        figure.add_scatter(
            x=[row.macs for row in yours],
            y=[100 * row.top1 for row in yours],
            mode="markers+text",
            text=labels,
            textposition="top center",
            marker={"symbol": "star", "color": YOURS, "size": 13},
            hovertext=[
                f"{label} ({row.trial}): {100 * row.top1:.2f}% top-1, "
                f"{human(row.macs)} MACs, {human(row.params)} params"
                for label, row in zip(labels, yours, strict=True)
            ],
            hoverinfo="text",
            name="yours (best top-1 per trial)",
        )
        front = pareto_rows(yours)
        figure.add_scatter(
            x=[row.macs for row in front],
            y=[100 * row.top1 for row in front],
            mode="lines",
            line={"shape": "hv", "color": YOURS, "dash": "dot"},
            name="yours, Pareto front",
        )
    figure.update_layout(
        title="Top-1 accuracy against cost: your trials beside the published families"
        + (f"<br><sup>{YOURS_NOTE}</sup>" if yours else ""),
        xaxis={
            "title": "multiply-adds per image (MACs, log scale)",
            "type": "log",
            "exponentformat": "SI",  # 1G, not plotly's default 1B: the PNG's units
        },
        yaxis={"title": "top-1 accuracy (%)"},
        template="plotly_white",
    )
    figure.write_html(path, include_plotlyjs=True)


def write_charts(rows: list[Row], out: Path) -> list[Path]:
    """Both charts as PNG and HTML under `out`; returns the files written."""
    references = load_references()
    challenge = Challenge.of(rows, references)
    out.mkdir(parents=True, exist_ok=True)
    challenge_png(challenge, references, out / f"{CHALLENGE}.png")
    challenge_html(challenge, references, out / f"{CHALLENGE}.html")
    macs_png(rows, references, out / f"{ACCURACY_VS_MACS}.png")
    macs_html(rows, references, out / f"{ACCURACY_VS_MACS}.html")
    return [out / f"{name}.{suffix}" for name in CHARTS for suffix in ("png", "html")]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", help="MLflow experiment (default: the latest sweep's)")
    parser.add_argument("--out", type=Path, default=Path("charts"), help="folder for the files")


def sweep_of(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """(client, experiment) to chart, or None when there is no sweep yet (published only)."""
    uri = tracking_uri()
    no_store = not is_server(uri) and not Path(uri.removeprefix("sqlite:///")).is_file()
    if args.experiment is None and no_store:
        return None
    client = open_client(uri)
    if args.experiment is None:
        experiment = latest_sweep_experiment(client)
        return (client, experiment) if experiment is not None else None
    return client, resolve_experiment(client, args.experiment)


def run(args: argparse.Namespace) -> int:
    sweep = sweep_of(args)
    rows = leaderboard_rows(sweep[0], sweep[1].name) if sweep else []
    if not finished(rows):
        what = f"experiment {sweep[1].name!r} has" if sweep else "the tracking store has"
        print(
            f"ladder chart: {what} no finished trial yet; drawing the published results only",
            file=sys.stderr,
        )
    written = write_charts(rows, args.out)
    parent_id = sweep_parent_id(sweep[0], sweep[1].experiment_id) if sweep else None
    if parent_id is not None:
        for path in written:
            sweep[0].log_artifact(parent_id, str(path), ARTIFACT_PATH)
    for path in written:
        print(path)
    return 0
