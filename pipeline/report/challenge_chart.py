"""The ImageNet challenge chart: the ILSVRC winners' top-5 error by year (bars), human
level, the landmark models' top-1 error at their year, and the user's trials at their
architecture's year, top-5 and top-1 error alike.
"""

from __future__ import annotations

import sys
from itertools import pairwise

from pipeline.report.chart_data import YOURS, Axis, Chart, Rule, Series, with_accuracy
from pipeline.report.chart_style import YOURS_NOTE, error_percent, family_color, label_of
from pipeline.report.leaderboard import Row
from pipeline.report.references import References

WINNER_BARS = "#c7d6e8"


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
            labels=tuple(m.name for m in models),
            label_position="middle right",
            label_size=7,
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
        title="The ImageNet challenge: winners' top-5 error, landmark models' top-1 error"
        + (", and your runs" if pairs else ""),
        note=YOURS_NOTE if pairs else "",
        x=Axis(
            "year (the dotted line cuts out the years without a result)" if breaks else "year",
            ticks=tuple((x, str(year)) for year, x in positions.items()),
            limits=(-0.7, max(positions.values()) + right_margin),
        ),
        y=Axis("error (%): top-5 (bars, stars), top-1 (diamonds, rings)", from_zero=True),
        series=(
            winner_bars(references, positions),
            *published_errors(references, positions),
            *your_errors(pairs, positions),
        ),
        hlines=(Rule(human_level, "#444", "dash", f"human top-5 error ({human_level:g}%)"),),
        vlines=tuple(Rule(cut, "#999", "dot") for cut in breaks),
        legend="below",
    )
