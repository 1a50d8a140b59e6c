"""A benchmark's curves: measured {size: seconds} points and their fitted log-log slope
(1: linear growth, 2: quadratic; a constant start-up flattens it at small sizes)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path


def slope(sizes: list[int], seconds: list[float]) -> float | None:
    """The least-squares slope of log(seconds) over log(size): the growth's exponent."""
    if len(sizes) < 2:
        return None
    xs, ys = [math.log(n) for n in sizes], [math.log(max(t, 1e-6)) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    covariance = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return round(covariance / sum((x - mx) ** 2 for x in xs), 3)


def curves(series: dict[str, dict[int, float]]) -> dict[str, dict]:
    """Each named series of {size: seconds} with its fitted slope."""
    return {
        name: {"seconds": {str(n): t for n, t in points.items()},
               "loglog_slope": slope(list(points), list(points.values()))}
        for name, points in series.items()
    }  # fmt: skip


def publish(
    text: str, result: dict, out: Path | None, plot: Callable[[dict, Path], None] | None = None
) -> None:
    """A benchmark's JSON `text` on stdout and, with `--out`, in that file, with `plot`'s
    PNG of `result` beside it where the benchmark draws one."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        if plot is not None:
            plot(result, out.with_suffix(".png"))
