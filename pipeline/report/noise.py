"""Seeds and noise: a model point's top-1 over its seeds, and which differences are noise.

`ladder sweep --seeds K` trains every model point K times; the leaderboard then shows a
point's top-1 as the mean ± the sample standard deviation (n - 1) of its trials, so that
"compound scaling beats width alone" can be told apart from "that seed was lucky".

A point's interval is [mean - std, mean + std]; a point of one seed has no std (one
value says nothing of the spread, and 0 would claim there is none), so its interval is
its mean alone. Intervals are closed: two that touch overlap.

- Ranking: a point ties when its interval overlaps that of the point ranked just above
  it (`rank_ties`). Ties chain: in A > B > C, B may tie A and C tie B while C and A do
  not overlap; each mark reads "not told apart from the one above".
- Pareto front (computed on the means): a point off the front ties it when no point
  dominates it beyond noise (`front_ties`), that is when every point at most as costly
  has a lower bound at or below its upper bound.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from itertools import groupby

Interval = tuple[float, float]


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """(mean, sample std) of `values`; the std is None below two values, the mean too
    for none."""
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def mean_of(values: Sequence[float | None]) -> float | None:
    """The mean of the values that are known; None if none is."""
    known = [value for value in values if value is not None]
    return statistics.fmean(known) if known else None


def interval(mean: float, std: float | None) -> Interval:
    return mean - (std or 0.0), mean + (std or 0.0)


def overlap(a: Interval, b: Interval) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def rank_ties(intervals: Sequence[Interval]) -> list[bool]:
    """For intervals in rank order, best first: whether each overlaps the one above it."""
    return [
        index > 0 and overlap(intervals[index - 1], here) for index, here in enumerate(intervals)
    ]


def front_ties(points: Sequence[tuple[float, Interval]], front: set[int]) -> set[int]:
    """Indices of the (cost, interval) points off `front` that no point dominates beyond
    noise: none at most as costly has its whole interval above this one's.

    One pass in order of cost, not every pair (thousands of trials): the highest lower
    bound among the points at most as costly decides.
    """
    ties: set[int] = set()
    highest_low = float("-inf")  # among the points at most as costly as this group
    for _, group in groupby(sorted(range(len(points)), key=lambda i: points[i][0]),
                            key=lambda i: points[i][0]):  # fmt: skip
        group = list(group)
        highest_low = max(highest_low, *(points[i][1][0] for i in group))
        ties.update(i for i in group if i not in front and highest_low <= points[i][1][1])
    return ties
