"""Any `Chart` as a PNG (matplotlib, for reports): plotly's style words translated."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Literal

from pipeline.report.chart_data import Axis, Chart, Rule, Series
from pipeline.report.chart_style import BAR_WIDTH
from pipeline.report.leaderboard import human

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
            alpha=series.opacity,
            zorder=3 if series.opacity == 1 else 2.5,
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
