"""What a chart shows, as plain data: `Chart`, its `Series`, `Rule`s and `Axis`es.

challenge_chart.py, cost_charts.py, scaling_charts.py and reference_chart.py describe
each chart as such data; render_png.py and render_html.py draw any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.report.leaderboard import Row

YOURS = "#d62728"  # the user's own results, on every chart


@dataclass(frozen=True)
class Series:
    """Points drawn alike under one legend entry: bars, markers, a line or a step line.

    Styles use plotly's words (marker "circle-open", dash "dot", label position "middle
    right"), which the PNG renderer translates; sizes are in points. `labels` and
    `hovertexts` hold one text per point ("" for none, "\\n" between lines) or none at all;
    `errors` one ± half-length of a vertical error bar per point (None for none) or none.
    """

    name: str
    kind: Literal["bar", "markers", "line", "steps"]
    xs: tuple[float, ...]
    ys: tuple[float | None, ...]
    color: str
    marker: str | None = None  # a "line" with a marker marks its points too
    size: float = 6
    dash: str | None = None
    outline: str | None = None  # a bar's edge
    labels: tuple[str, ...] = ()
    label_position: str = "top right"
    label_size: float = 8
    label_color: str | None = None  # None: the series' color
    hovertexts: tuple[str, ...] = ()
    errors: tuple[float | None, ...] = ()
    opacity: float = 1.0  # below 1: the many points drawn small behind the few that matter


@dataclass(frozen=True)
class Rule:
    """A line across the whole plot at one x (vertical) or one y (horizontal)."""

    at: float
    color: str
    dash: str
    label: str | None = None


@dataclass(frozen=True)
class Axis:
    """One axis; `limits` fix its range, `from_zero` only its start."""

    title: str
    log: bool = False
    si_units: bool = False  # 1M, 10G: counts that span orders of magnitude
    ticks: tuple[tuple[float, str], ...] = ()  # fixed (x, text): categories, no grid across
    limits: tuple[float, float] | None = None
    from_zero: bool = False


@dataclass(frozen=True)
class Chart:
    """One chart, whichever the renderer. `note` qualifies the title ("" for none); `legend`
    says where the PNG has room for the legend, below the plot or beside it."""

    title: str
    note: str
    x: Axis
    y: Axis
    series: tuple[Series, ...]
    hlines: tuple[Rule, ...] = ()
    vlines: tuple[Rule, ...] = ()
    legend: Literal["below", "right"] = "right"


def error_bounds(series: Series) -> tuple[tuple[float | None, ...], tuple[float | None, ...]]:
    """Each error bar's length below and above its point. The bars are a top-1's std in
    percent: a bar stops at 0 and at 100, where the accuracy itself does."""
    bars = list(zip(series.ys, series.errors, strict=True))
    below = tuple(None if e is None or y is None else min(e, y) for y, e in bars)
    above = tuple(None if e is None or y is None else min(e, 100 - y) for y, e in bars)
    return below, above


def with_accuracy(rows: list[Row]) -> list[Row]:
    """Trials with at least one finished epoch (the rest have no accuracy yet)."""
    return [row for row in rows if row.top1 is not None]
