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

A chart is first described as plain data, a `Chart` of `Series`, by one function that
makes every decision particular to it (which points, which labels, the axes); then
`render_png` and `render_html` draw any `Chart`. A new chart is a new such function, and
the PNG and the HTML page of one chart cannot drift apart.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from itertools import cycle, pairwise
from pathlib import Path
from typing import Any, Literal

from pipeline.report.baseline_runs import Baseline, baselines_of
from pipeline.report.chart_data import YOURS, Axis, Chart, Rule, Series, with_accuracy
from pipeline.report.leaderboard import (
    Row,
    human,
    latest_sweep_experiment,
    leaderboard_rows,
    pareto_rows,
    resolve_experiment,
    sweep_parent_id,
)
from pipeline.report.reference_chart import reference_chart, reference_dataset, with_baselines
from pipeline.report.references import References, load_references
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
FAMILY_COLORS = {
    "AlexNet": "#8c564b",
    "VGG": "#9467bd",
    "ResNet": "#1f77b4",
    "MobileNetV2": "#2ca02c",
    "EfficientNet": "#ff7f0e",
}
WINNER_BARS = "#c7d6e8"
YOURS_NOTE = "yours: measured on your data set, which is ImageNet only if you trained on it"
MEASURED_NOTE = (
    "speed measured on the device each trial trained on: compare trials of one node type"
)
BAR_WIDTH = 0.7  # in x units: one year on the challenge chart


def short_scaling(row: Row) -> str:
    """`α1.2 β1.1 γ1.15`: labels must stay short on a chart."""
    symbols = {"alpha": "α", "beta": "β", "gamma": "γ", "phi": "φ", "width": "w", "depth": "d"}
    return " ".join(f"{symbols[key]}{value}" for key, value in row.scaling.items())


def label_of(row: Row) -> str:
    """`yours: resnet50 @224px`, with the scaling for scaled architectures."""
    scaling = f" {short_scaling(row)}" if row.scaling else ""
    resolution = f" @{row.resolution}px" if row.resolution else ""
    return f"yours: {row.arch}{scaling}{resolution}"


def family_color(family: str) -> str:
    return FAMILY_COLORS.get(family, "#7f7f7f")


def error_percent(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * (1.0 - fraction)


def spreads(rows: list[Row]) -> tuple[float | None, ...]:
    """Each point's top-1 std over its seeds, in percent, as error bars; none if no point
    has one (a sweep of one seed)."""
    if all(row.top1_std is None for row in rows):
        return ()
    return tuple(None if row.top1_std is None else 100 * row.top1_std for row in rows)


# ---- the ImageNet challenge chart


def dated(rows: list[Row], references: References) -> list[tuple[int, Row]]:
    """(year, trial) for the trials whose architecture has a known publication year."""
    pairs = [(references.year_of(row.arch), row) for row in with_accuracy(rows)]
    unknown = sorted({row.arch for year, row in pairs if year is None})
    if unknown:
        print(
            f"ladder chart: no year known for {', '.join(unknown)}; not on the challenge chart",
            file=sys.stderr,
        )
    return [(year, row) for year, row in pairs if year is not None]


def year_positions(references: References, trial_years: set[int]) -> dict[int, int]:
    """x of each year shown: every year from the first challenge to the latest result, and
    the trials' own years. Years before the first challenge (LeNet-5's 1998) are packed just
    left of 2010, so a LeNet run does not stretch the axis over an empty decade."""
    first = min(winner.year for winner in references.winners)
    last = max([model.year for model in references.models] + list(trial_years))
    years = sorted(set(range(first, last + 1)) | trial_years)
    return {year: x for x, year in enumerate(years)}


def axis_breaks(positions: dict[int, int]) -> list[float]:
    """x between two shown years that are not consecutive (where the axis is cut)."""
    years = sorted(positions)
    return [positions[a] + 0.5 for a, b in pairwise(years) if b - a > 1]


def best_of_each_year(pairs: list[tuple[int, Row]]) -> tuple[str, ...]:
    """A label for the best top-1 of each year only, saying how many more share the year:
    trials of one architecture sit on one x, and their labels would cover each other."""
    labels = [""] * len(pairs)
    for year in {year for year, _ in pairs}:
        group = [i for i, (y, _) in enumerate(pairs) if y == year]
        best = max(group, key=lambda i: pairs[i][1].top1)
        more = f" (+{len(group) - 1} more)" if len(group) > 1 else ""
        labels[best] = label_of(pairs[best][1]) + more
    return tuple(labels)


def winner_bars(references: References, positions: dict[int, int]) -> Series:
    winners = references.winners
    return Series(
        "ILSVRC winner, top-5 error",
        "bar",
        xs=tuple(positions[w.year] for w in winners),
        ys=tuple(w.top5_error for w in winners),
        color=WINNER_BARS,
        outline="#5b7fa8",
        labels=tuple(w.team.replace("-", "-\n") + f"\n{w.top5_error:g}" for w in winners),
        label_position="top center",
        label_color="#33506f",
        hovertexts=tuple(
            f"{w.year} {w.team} ({w.entry}): top-5 error {w.top5_error:g}%\n{w.source}"
            for w in winners
        ),
    )


def published_errors(references: References, positions: dict[int, int]) -> list[Series]:
    """Each family's top-1 error just left of its year (the user's trials go right of it)."""
    return [
        Series(
            f"{family}, published top-1 error",
            "markers",
            xs=tuple(positions[m.year] - 0.2 for m in models),
            ys=tuple(m.top1_error for m in models),
            color=family_color(family),
            marker="diamond",
            size=5.5,
            hovertexts=tuple(
                f"{m.name} ({m.year}): top-1 error {m.top1_error:.2f}%\n{m.source}" for m in models
            ),
        )
        for family, models in references.by_family().items()
    ]


def your_errors(pairs: list[tuple[int, Row]], positions: dict[int, int]) -> list[Series]:
    """The user's top-5 error (stars) and top-1 error (rings) just right of their year."""
    if not pairs:
        return []
    xs = tuple(positions[year] + 0.2 for year, _ in pairs)
    names = [label_of(row) for _, row in pairs]
    top5 = tuple(error_percent(row.top5) for _, row in pairs)
    top1 = tuple(error_percent(row.top1) for _, row in pairs)
    return [
        Series(
            "yours, top-5 error",
            "markers",
            xs=xs,
            ys=top5,
            color=YOURS,
            marker="star",
            size=12,
            hovertexts=error_hovertexts(names, "top-5", top5),
        ),
        Series(
            "yours, top-1 error",
            "markers",
            xs=xs,
            ys=top1,
            color=YOURS,
            marker="circle-open",
            size=7,
            labels=best_of_each_year(pairs),
            label_position="middle right",
            hovertexts=error_hovertexts(names, "top-1", top1),
        ),
    ]


def error_hovertexts(
    names: list[str], which: str, errors: tuple[float | None, ...]
) -> tuple[str, ...]:
    return tuple(
        f"{name}: {which} error {value:.2f}%" for name, value in zip(names, errors, strict=True)
    )


def challenge_chart(rows: list[Row], references: References) -> Chart:
    """The winners' bars and human level, the landmark models and the user's trials, each
    at the x of its year; dotted lines where years without a result are cut out."""
    pairs = dated(rows, references)
    positions = year_positions(references, {year for year, _ in pairs})
    breaks = axis_breaks(positions)
    human_level = references.human.top5_error
    right_margin = 2.5 if pairs else 0.7  # the trials' labels stand right of them
    return Chart(
        title="The ImageNet challenge: winners' top-5 error, landmark models' top-1 error, "
        "and your runs",
        note=YOURS_NOTE if pairs else "",
        x=Axis(
            "year (the dotted line cuts out the years without a result)" if breaks else "year",
            ticks=tuple((x, str(year)) for year, x in positions.items()),
            limits=(-0.7, max(positions.values()) + right_margin),
        ),
        y=Axis("ImageNet classification error (%)", from_zero=True),
        series=(
            winner_bars(references, positions),
            *published_errors(references, positions),
            *your_errors(pairs, positions),
        ),
        hlines=(Rule(human_level, "#444", "dash", f"human top-5 error ({human_level:g}%)"),),
        vlines=tuple(Rule(cut, "#999", "dot") for cut in breaks),
        legend="below",
    )


# ---- accuracy against multiply-adds


def published_curves(references: References) -> list[Series]:
    """Each family as a line by cost, its points named within the family (B0..B7, 18..152)."""
    return [
        Series(
            f"{family} (published)",
            "line",
            xs=tuple(m.macs for m in models),
            ys=tuple(m.top1 for m in models),
            color=family_color(family),
            marker="circle",
            size=5,
            labels=tuple(m.name.removeprefix(family).strip("-") or m.name for m in models),
            label_position="bottom right",
            label_size=7,
            hovertexts=tuple(
                f"{m.name}: {m.top1:g}% top-1, {human(m.macs)} MACs, "
                f"{human(m.params)} params\n{m.source}"
                for m in models
            ),
        )
        for family, models in references.by_family().items()
    ]


def pareto_front(rows: list[Row], cost: str = "macs") -> list[Row]:
    """The Pareto-optimal trials in the order a line through them needs: by MACs, the
    ones the leaderboard marked; by measured throughput, computed here."""
    if cost == "macs":
        return sorted((row for row in rows if row.pareto), key=lambda row: row.macs)
    return sorted((rows[i] for i in pareto_rows(rows, cost)), key=lambda row: row.throughput)


def your_accuracies(rows: list[Row], cost: str = "macs") -> list[Series]:
    """The user's trials that have the cost (stars) and their Pareto front (a step line by
    MACs; a plain line by throughput, where more is better). Past eight trials only the
    front is labelled, or the labels would cover each other."""
    x_of = COST_AXES[cost][0]
    yours = [row for row in with_accuracy(rows) if x_of(row)]
    if not yours:
        return []
    front = pareto_front(yours, cost)
    labelled = front if len(yours) > 8 else yours
    return [
        Series(
            "yours (best top-1 per trial)",
            "markers",
            xs=tuple(x_of(row) for row in yours),
            ys=tuple(100 * row.top1 for row in yours),
            color=YOURS,
            marker="star",
            size=11,
            labels=tuple(label_of(row) if row in labelled else "" for row in yours),
            hovertexts=tuple(f"{label_of(row)} ({row.trial}): {cost_text(row)}" for row in yours),
            errors=spreads(yours),
        ),
        Series(
            "yours, Pareto front",
            "steps" if cost == "macs" else "line",
            xs=tuple(x_of(row) for row in front),
            ys=tuple(100 * row.top1 for row in front),
            color=YOURS,
            dash="dot",
        ),
    ]


def cost_text(row: Row) -> str:
    measured = (
        f", {row.throughput:.3g} images/s, {row.latency_ms:.3g} ms at batch 1"
        if row.throughput and row.latency_ms
        else ""
    )
    spread = f" ± {100 * row.top1_std:.2f} (n={row.n})" if row.top1_std is not None else ""
    return (
        f"{100 * row.top1:.2f}%{spread} top-1, {human(row.macs)} MACs, "
        f"{human(row.params)} params{measured}"
    )


COST_AXES = {  # cost -> (x of a row, the axis)
    "macs": (
        lambda row: row.macs,
        Axis("multiply-adds per image (MACs, log scale)", log=True, si_units=True),
    ),
    "throughput": (
        lambda row: row.throughput,
        Axis(
            "inference images/s at batch 64, measured after training (log scale)",
            log=True,
            si_units=True,
        ),
    ),
}


def macs_chart(rows: list[Row], references: References) -> Chart:
    """Top-1 against multiply-adds on a log axis: the published families and the user's."""
    yours = your_accuracies(rows)
    return Chart(
        title="Top-1 accuracy against cost: your trials beside the published families",
        note=YOURS_NOTE if yours else "",
        x=COST_AXES["macs"][1],
        y=Axis("top-1 accuracy (%)"),
        series=(*published_curves(references), *yours),
    )


def throughput_chart(rows: list[Row]) -> Chart:
    """Top-1 against measured inference throughput, with its own Pareto front: few MACs
    do not always make a fast model. Published results carry no throughput."""
    yours = your_accuracies(rows, "throughput")
    return Chart(
        title="Top-1 accuracy against measured speed: your trials",
        note=MEASURED_NOTE if yours else "no trial has a measured throughput yet",
        x=COST_AXES["throughput"][1],
        y=Axis("top-1 accuracy (%)"),
        series=tuple(yours),
    )


# ---- the EfficientNet paper's scaling figures (Tan & Le 2019, Figures 3 and 4)

DIMENSIONS = {  # coefficient -> (dimension, the paper's symbol, color)
    "beta": ("width", "w", "#1f77b4"),
    "alpha": ("depth", "d", "#2ca02c"),
    "gamma": ("resolution", "r", "#d62728"),
}
CURVE_COLORS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b")


def coefficients(row: Row) -> dict[str, float] | None:
    """(alpha, beta, gamma) of a trial that a scaling space made; None for the others."""
    if not row.macs or not all(key in row.scaling for key in DIMENSIONS):
        return None
    return {key: float(row.scaling[key]) for key in DIMENSIONS}


def scaled_points(rows: list[Row], figure: str) -> list[tuple[dict[str, float], Row]]:
    points = [(c, row) for row in with_accuracy(rows) if (c := coefficients(row))]
    if not points:
        print(
            f"ladder chart: no trial has depth, width and resolution coefficients; the "
            f"{figure} figure is empty (sweep --space single_dimension or "
            "width_by_depth_resolution)",
            file=sys.stderr,
        )
    return points


def flops_series(
    name: str, curve: list[tuple[dict[str, float], Row]], color: str, labels: tuple[str, ...]
) -> Series:
    """A curve of trials by counted FLOPs (2 x MACs, as the paper counts), labelled."""
    return Series(
        name,
        "line",
        xs=tuple(2 * row.macs for _, row in curve),
        ys=tuple(100 * row.top1 for _, row in curve),
        color=color,
        marker="circle",
        labels=labels,
        label_position="bottom right",
        hovertexts=tuple(f"{label_of(row)} ({row.trial}): {cost_text(row)}" for _, row in curve),
        errors=spreads([row for _, row in curve]),
    )


def scaling_chart(rows: list[Row]) -> Chart:
    """Figure 3: one curve per dimension scaled alone (the others at 1.0), each from the
    base model, labelled as the paper does (w=2.6, d=6, r=299 px)."""
    points = scaled_points(rows, "scaling")
    series = []
    for key, (dimension, symbol, color) in DIMENSIONS.items():
        others = [other for other in DIMENSIONS if other != key]
        curve = sorted(
            (p for p in points if all(p[0][other] == 1 for other in others)),
            key=lambda p: p[0][key],
        )
        if not any(c[key] != 1 for c, _ in curve):
            continue
        labels = tuple(
            "" if series and c[key] == 1  # the base, labelled on the first curve only
            else f"r={row.resolution}" if key == "gamma"
            else f"{symbol}={c[key]:g}"
            for c, row in curve
        )  # fmt: skip
        series.append(flops_series(f"scale {dimension} only ({symbol})", curve, color, labels))
    return Chart(
        title="Scaling one dimension: top-1 against FLOPs (EfficientNet paper, Figure 3)",
        note=YOURS_NOTE if series else "",
        x=Axis("FLOPs per image (counted: 2 x multiply-adds)", si_units=True),
        y=Axis("top-1 accuracy (%)"),
        series=tuple(series),
    )


def balance_chart(rows: list[Row]) -> Chart:
    """Figure 4: width scaled on each (depth, resolution) base, one curve per pair."""
    points = scaled_points(rows, "balance")
    pairs = sorted({(c["alpha"], c["gamma"]) for c, _ in points})
    series = []
    for (depth, gamma), color in zip(pairs, cycle(CURVE_COLORS), strict=False):
        curve = sorted(
            (p for p in points if (p[0]["alpha"], p[0]["gamma"]) == (depth, gamma)),
            key=lambda p: p[0]["beta"],
        )
        labels = tuple(f"w={c['beta']:g}" for c, _ in curve)
        series.append(flops_series(f"d={depth:g}, r={gamma:g}", curve, color, labels))
    return Chart(
        title="Scaling width for different depths and resolutions: top-1 against FLOPs "
        "(EfficientNet paper, Figure 4)",
        note=YOURS_NOTE if series else "",
        x=Axis("FLOPs per image (counted: 2 x multiply-adds)", si_units=True),
        y=Axis("top-1 accuracy (%)"),
        series=tuple(series),
    )


# ---- renderers: any Chart, as a PNG or as an HTML page

PNG_MARKERS = {"circle": "o", "circle-open": "o", "diamond": "D", "star": "*"}
PNG_DASHES = {None: "-", "dash": "--", "dot": ":"}
PNG_LABEL_PLACES = {  # plotly's text position -> (offset in points, ha, va) of matplotlib
    "top center": ((0, 3), "center", "bottom"),
    "top right": ((6, 4), "left", "baseline"),
    "middle right": ((6, 0), "left", "center"),
    "bottom right": ((4, -9), "left", "baseline"),
}
PNG_LEGENDS = {  # a legend below the plot takes height, one beside it width
    "below": {"loc": "upper center", "bbox_to_anchor": (0.5, -0.1), "ncol": 4, "title_fontsize": 8},
    "right": {"loc": "upper left", "bbox_to_anchor": (1.01, 1), "title_fontsize": 7},
}
PNG_SIZES = {"below": (12, 7.5), "right": (12, 7)}  # inches, at 110 dpi


def render_png(chart: Chart, path: Path) -> None:
    """Draw `chart` with matplotlib, for reports: its note becomes the legend's title,
    beside the series it qualifies, wrapped when the legend is a narrow column."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=PNG_SIZES[chart.legend], dpi=110, layout="constrained")
    axes = figure.add_subplot()
    for rule in chart.hlines:
        axes.axhline(rule.at, **png_rule_style(rule))
    for series in chart.series:
        draw_png_series(axes, series)
        draw_png_errors(axes, series)
        label_png_points(axes, series)
    for rule in chart.vlines:
        axes.axvline(rule.at, **png_rule_style(rule))
    set_png_axis(axes, "x", chart.x)
    set_png_axis(axes, "y", chart.y)
    axes.set_title(chart.title)
    note = textwrap.fill(chart.note, 40) if chart.legend == "right" else chart.note
    if axes.get_legend_handles_labels()[0]:  # an empty chart (nothing measured) has none
        axes.legend(fontsize=8, title=note or None, **PNG_LEGENDS[chart.legend])
    elif note:
        axes.set_title(note, loc="left", fontsize=8)
    figure.savefig(path)


def png_rule_style(rule: Rule) -> dict[str, Any]:
    style = {"color": rule.color, "linestyle": PNG_DASHES[rule.dash], "linewidth": 1.2}
    return style | ({"label": rule.label} if rule.label else {})


def draw_png_series(axes: Any, series: Series) -> None:
    """Bars at the back, lines over the grid, markers on top."""
    if series.kind == "bar":
        axes.bar(
            series.xs,
            series.ys,
            width=BAR_WIDTH,
            color=series.color,
            edgecolor=series.outline,
            zorder=1,
            label=series.name,
        )
    elif series.kind == "markers":
        hollow = series.marker == "circle-open"
        axes.scatter(
            series.xs,
            series.ys,
            marker=PNG_MARKERS[series.marker],
            s=series.size**2,
            facecolors="none" if hollow else series.color,
            edgecolors=series.color,
            zorder=3,
            label=series.name,
        )
    else:
        axes.plot(
            series.xs,
            series.ys,
            marker=PNG_MARKERS.get(series.marker),
            markersize=series.size,
            color=series.color,
            linewidth=1.4,
            linestyle=PNG_DASHES[series.dash],
            drawstyle="steps-post" if series.kind == "steps" else "default",
            zorder=2,
            label=series.name,
        )


def draw_png_errors(axes: Any, series: Series) -> None:
    """The series' error bars, for the points that have one, under its markers."""
    if not series.errors:
        return
    points = zip(series.xs, series.ys, series.errors, strict=True)
    bars = [(x, y, error) for x, y, error in points if error is not None]
    if bars:
        xs, ys, errors = zip(*bars, strict=True)
        axes.errorbar(xs, ys, yerr=errors, fmt="none", ecolor=series.color, capsize=3, zorder=2)


def label_png_points(axes: Any, series: Series) -> None:
    if not series.labels:
        return
    offset, ha, va = PNG_LABEL_PLACES[series.label_position]
    for x, y, label in zip(series.xs, series.ys, series.labels, strict=True):
        if label:
            axes.annotate(
                label,
                (x, y),
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=series.label_size,
                color=series.label_color or series.color,
            )


def set_png_axis(axes: Any, which: Literal["x", "y"], axis: Axis) -> None:
    """Title, scale, ticks and limits of one axis; grid lines across it unless its ticks
    are fixed categories (years), and faint ones at the minor ticks of a log axis."""
    from matplotlib.ticker import FuncFormatter

    getattr(axes, f"set_{which}label")(axis.title)
    if axis.log:
        getattr(axes, f"set_{which}scale")("log")
        axes.grid(which="minor", axis=which, alpha=0.1)
    if axis.si_units:
        formatter = FuncFormatter(lambda value, _: human(value))
        getattr(axes, f"{which}axis").set_major_formatter(formatter)
    if axis.ticks:
        getattr(axes, f"set_{which}ticks")(*zip(*axis.ticks, strict=True))
    else:
        axes.grid(which="major", axis=which, alpha=0.3)
    if axis.limits or axis.from_zero:
        getattr(axes, f"set_{which}lim")(axis.limits or (0, None))


def render_html(chart: Chart, path: Path) -> None:
    """Draw `chart` with plotly as one self-contained page (its JavaScript inline, so it
    opens offline and inside the MLflow UI); every point with a hover text says what it is."""
    import plotly.graph_objects as go

    figure = go.Figure([html_trace(series) for series in chart.series])
    for rule in chart.hlines:
        figure.add_hline(y=rule.at, **html_rule_style(rule))
    for rule in chart.vlines:
        figure.add_vline(x=rule.at, **html_rule_style(rule))
    figure.update_layout(
        title=chart.title + (f"<br><sup>{chart.note}</sup>" if chart.note else ""),
        xaxis=html_axis(chart.x),
        yaxis=html_axis(chart.y),
        uniformtext={"minsize": 10, "mode": "show"},  # bar labels readable, not shrunk to fit
        template="plotly_white",
    )
    figure.write_html(path, include_plotlyjs=True)


def html_rule_style(rule: Rule) -> dict[str, Any]:
    style = {"line_dash": rule.dash, "line_color": rule.color}
    return style | ({"annotation_text": rule.label} if rule.label else {})


def html_text(texts: tuple[str, ...]) -> list[str] | None:
    return [text.replace("\n", "<br>") for text in texts] or None


def html_trace(series: Series) -> Any:
    """A plotly trace holding only what `series` sets; text sizes in pixels, about what the
    PNG's points measure at 110 dpi."""
    import plotly.graph_objects as go

    trace: dict[str, Any] = {"x": series.xs, "y": series.ys, "name": series.name}
    if series.labels:
        color = series.label_color or series.color
        trace["text"] = html_text(series.labels)
        trace["textfont"] = {"size": 1.5 * series.label_size, "color": color}
        trace["cliponaxis"] = False  # a label may reach out of the plot
    if series.hovertexts:
        trace["hovertext"] = html_text(series.hovertexts)
        trace["hoverinfo"] = "text"
    if series.errors:  # plotly draws no bar where the value is None
        trace["error_y"] = {"type": "data", "array": series.errors, "color": series.color}
    if series.kind == "bar":
        marker = {"color": series.color, "line": {"color": series.outline}}
        return go.Bar(trace, width=BAR_WIDTH, marker=marker, textposition="outside", textangle=0)
    modes = ["lines"] if series.kind != "markers" else []
    if series.marker:
        modes.append("markers")
        trace["marker"] = {"symbol": series.marker, "color": series.color, "size": series.size}
    if series.labels:
        modes.append("text")
        trace["textposition"] = series.label_position
    if series.kind != "markers":
        shape = "hv" if series.kind == "steps" else "linear"
        trace["line"] = {"color": series.color, "dash": series.dash, "shape": shape}
    return go.Scatter(trace, mode="+".join(modes))


def html_axis(axis: Axis) -> dict[str, Any]:
    layout: dict[str, Any] = {"title": axis.title}
    if axis.log:
        layout["type"] = "log"
    if axis.si_units:
        layout["exponentformat"] = "SI"  # 1G, not plotly's default 1B: the PNG's units
    if axis.ticks:
        layout["tickvals"], layout["ticktext"] = zip(*axis.ticks, strict=True)
    if axis.limits:
        layout["range"] = axis.limits
    if axis.from_zero:
        layout["rangemode"] = "tozero"
    return layout


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


def main(args: argparse.Namespace) -> int:
    sweep = sweep_of(args)
    rows = leaderboard_rows(sweep[0], sweep[1].name) if sweep else []
    if not with_accuracy(rows):
        what = f"experiment {sweep[1].name!r} has" if sweep else "the tracking store has"
        print(
            f"ladder chart: {what} no finished trial yet; drawing the published results only",
            file=sys.stderr,
        )
    parent_id = sweep_parent_id(sweep[0], sweep[1].experiment_id) if sweep else None
    space = sweep[0].get_run(parent_id).data.tags.get("ladder.space") if parent_id else None
    names = tuple(args.figure or charts_for(space))
    baselines = baselines_of(sweep[0], sweep[1].experiment_id) if sweep else []
    written = write_charts(rows, args.out, names, baselines, reference_dataset(sweep, names))
    if parent_id is not None:
        for path in written:
            sweep[0].log_artifact(parent_id, str(path), ARTIFACT_PATH)
    for path in written:
        print(path)
    return 0
