"""Any `Chart` as a PNG (matplotlib, for reports): plotly's style words translated."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Literal

from pipeline.report.chart_data import Axis, Chart, Rule, Series, error_bounds
from pipeline.report.chart_style import BAR_WIDTH
from pipeline.report.leaderboard import human
from pipeline.report.png_labels import PointLabel, place_labels

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
    """Draw `chart` with matplotlib (`png_figure`) into `path`."""
    png_figure(chart).savefig(path)


def png_figure(chart: Chart) -> Any:
    """`chart` as a matplotlib figure, laid out: its note becomes the legend's title,
    beside the series it qualifies, wrapped when the legend is a narrow column; the point
    labels are placed last, clear of everything else (`png_labels`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=PNG_SIZES[chart.legend], dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for rule in chart.hlines:
        axes.axhline(rule.at, **png_rule_style(rule))
    labels = []
    for series in chart.series:
        draw_png_series(axes, series)
        draw_png_errors(axes, series)
        labels += label_png_points(axes, series)
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
    figure.canvas.draw()  # the layout, final: the labels are kept out of it
    place_labels(figure, axes, labels, occupied(axes, chart))
    return figure


def occupied(axes: Any, chart: Chart) -> list[Any]:
    """Display boxes no label may cover: the markers of labelled series, error bars, and
    the lines across the plot."""
    from matplotlib.transforms import Bbox

    to_pixels = axes.figure.dpi / 72
    plot = axes.get_window_extent()
    boxes = []
    for series in chart.series:
        points = [(x, y) for x, y in zip(series.xs, series.ys, strict=True) if y is not None]
        if series.labels and (series.kind == "markers" or series.marker):
            half = series.size / 2 * to_pixels
            for x, y in points:
                cx, cy = axes.transData.transform((x, y))
                boxes.append(Bbox.from_extents(cx - half, cy - half, cx + half, cy + half))
        bounds = error_bounds(series) if series.errors else ((), ())
        bars = zip(series.xs, series.ys, *bounds, strict=False)  # none without errors
        for x, y, below, above in bars:
            if y is not None and below is not None:
                (x0, y0), (_, y1) = axes.transData.transform([(x, y - below), (x, y + above)])
                cap = 3 * to_pixels
                boxes.append(Bbox.from_extents(x0 - cap, y0, x0 + cap, y1))
    for rule in chart.hlines:
        _, at = axes.transData.transform((1, rule.at))
        boxes.append(Bbox.from_extents(plot.x0, at - 1, plot.x1, at + 1))
    for rule in chart.vlines:
        at, _ = axes.transData.transform((rule.at, 1))
        boxes.append(Bbox.from_extents(at - 1, plot.y0, at + 1, plot.y1))
    return boxes


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
    points = zip(series.xs, series.ys, *error_bounds(series), strict=True)
    bars = [(x, y, below, above) for x, y, below, above in points if below is not None]
    if bars:
        xs, ys, below, above = zip(*bars, strict=True)
        axes.errorbar(xs, ys, yerr=(below, above), fmt="none", ecolor=series.color, capsize=3,
                      zorder=2)  # fmt: skip


def label_png_points(axes: Any, series: Series) -> list[PointLabel]:
    """The series' labels at the chart's place for them (`place_labels` may move them)."""
    if not series.labels:
        return []
    offset, ha, va = PNG_LABEL_PLACES[series.label_position]
    labels = []
    for x, y, label in zip(series.xs, series.ys, series.labels, strict=True):
        if label and y is not None:
            text = axes.annotate(
                label,
                (x, y),
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=series.label_size,
                color=series.label_color or series.color,
            )
            text.set_in_layout(False)
            labels.append(PointLabel(text, series.size))
    return labels


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
