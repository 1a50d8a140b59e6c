"""Top-1 against cost: multiply-adds beside the published families (`accuracy_vs_macs`),
and measured inference throughput (`accuracy_vs_throughput`), each with its Pareto front.

Readable at four trials and at a thousand: past `LABEL_ALL_UP_TO` trials only the Pareto
front and the `TOP_LABELLED` most accurate are labelled stars; the rest are small
translucent dots whose names and numbers the HTML's hover gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pipeline.report.chart_data import YOURS, Axis, Chart, Series, with_accuracy
from pipeline.report.chart_style import YOURS_NOTE, cost_text, family_color, label_of, spreads
from pipeline.report.leaderboard import Row, human, pareto_rows
from pipeline.report.references import References

MEASURED_NOTE = (
    "speed measured on the device each trial trained on: compare trials of one node type"
)


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


def highlighted(rows: list[Row], front: list[Row]) -> list[Row]:
    """The trials drawn large and labelled: all of a few; of many, the Pareto front and
    the most accurate few, or a sweep of hundreds is a block of overprinted labels."""
    if len(rows) <= LABEL_ALL_UP_TO:
        return rows
    best = sorted(rows, key=lambda row: row.top1, reverse=True)[:TOP_LABELLED]
    return [row for row in rows if row in front or row in best]


def uncrowded_labels(rows: list[Row], x_of: Callable[[Row], float]) -> tuple[str, ...]:
    """Each trial's label, most accurate first, left out ("") where it would print over
    one already placed: a label spans about `LABEL_DECADES` to the right of its point
    and 1/`LABEL_ROWS` of the trials' accuracy range in height."""
    span = max(row.top1 for row in rows) - min(row.top1 for row in rows) or 1.0
    placed: list[tuple[float, float]] = []
    labels = [""] * len(rows)
    for i in sorted(range(len(rows)), key=lambda i: rows[i].top1, reverse=True):
        x, y = math.log10(x_of(rows[i])), rows[i].top1 / span
        if all(abs(x - px) > LABEL_DECADES or abs(y - py) > 1 / LABEL_ROWS for px, py in placed):
            placed.append((x, y))
            labels[i] = label_of(rows[i])
    return tuple(labels)


def trial_points(rows: list[Row], x_of: Callable[[Row], float], **style: Any) -> Series:
    """Trials as markers; every one's name and numbers in the HTML's hover."""
    return Series(
        xs=tuple(x_of(row) for row in rows),
        ys=tuple(100 * row.top1 for row in rows),
        color=YOURS,
        hovertexts=tuple(f"{label_of(row)} ({row.trial}): {cost_text(row)}" for row in rows),
        errors=spreads(rows),
        **style,
    )


def your_accuracies(rows: list[Row], cost: str = "macs") -> list[Series]:
    """The user's trials that have the cost and their Pareto front (a step line by MACs; a
    plain line by throughput, where more is better). The front and the most accurate few
    are stars; past `LABEL_ALL_UP_TO` trials the rest are small translucent dots, and
    labels that would overprint another are left to the hover."""
    x_of = COST_AXES[cost][0]
    yours = [row for row in with_accuracy(rows) if x_of(row)]
    if not yours:
        return []
    front = pareto_front(yours, cost)
    shown = highlighted(yours, front)
    rest = [row for row in yours if row not in shown]
    many = f" (the Pareto front and the top {TOP_LABELLED})" if rest else ""
    labels = uncrowded_labels(shown, x_of) if rest else tuple(map(label_of, shown))
    stars = trial_points(shown, x_of, name=f"yours (best top-1 per trial){many}",
                         kind="markers", marker="star", size=11, labels=labels)  # fmt: skip
    dots = trial_points(rest, x_of, name=f"yours, {len(rest)} more trials", kind="markers",
                        marker="circle", size=4, opacity=0.35)  # fmt: skip
    dots = replace(dots, errors=())  # hundreds of bars would hide the points: stars only
    return [
        *([dots] if rest else []),
        stars,
        Series(
            "yours, Pareto front",
            "steps" if cost == "macs" else "line",
            xs=tuple(x_of(row) for row in front),
            ys=tuple(100 * row.top1 for row in front),
            color=YOURS,
            dash="dot",
        ),
    ]


LABEL_ALL_UP_TO = 8  # trials on a chart before only the front and the best are labelled
TOP_LABELLED = 5
LABEL_DECADES, LABEL_ROWS = 1.2, 40  # a label's extent on a log x axis and in y
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
