"""The EfficientNet paper's scaling figures (Tan & Le 2019): Figure 3, top-1 against
counted FLOPs with one dimension scaled alone (space `single_dimension`), and Figure 4,
width scaled on each (depth, resolution) base (space `width_by_depth_resolution`).
"""

from __future__ import annotations

import sys
from itertools import cycle

from pipeline.report.chart_data import Axis, Chart, Series, with_accuracy
from pipeline.report.chart_style import YOURS_NOTE, cost_text, label_of, spreads
from pipeline.report.leaderboard import Row

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
