"""How a trial looks on every chart: its label, its family's color, its error bar, and
the notes that qualify a user's numbers.
"""

from __future__ import annotations

from pipeline.report.leaderboard import Row, human

FAMILY_COLORS = {
    "AlexNet": "#8c564b",
    "VGG": "#9467bd",
    "ResNet": "#1f77b4",
    "MobileNetV2": "#2ca02c",
    "EfficientNet": "#ff7f0e",
}

YOURS_NOTE = "yours: measured on your data set, which is ImageNet only if you trained on it"
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
