"""`ladder bench charts`: every chart drawn from generated trials, at growing trial counts.

The trials are made up, deterministic for a count (seeded), and only ones the pipeline can
build: the ladder's architectures at their own scaling (EfficientNet points scaled by
depth, width and resolution as the paper's figures want them), each with an accuracy,
cost, throughput and seed spread scattered around a typical value. It times each chart's
PNG and HTML at each count (the curves in the JSON), and draws each chart's PNG at the
largest count beside the JSON (`<chart>_<N>_trials.png`), its note saying on the figure
that its trials are generated, not measured. tests/pipeline/test_chart_layout.py reads
every chart at 4 and 1,000 such trials for text off the canvas or over another.
"""

from __future__ import annotations

import itertools
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pipeline.bench.curves import curves
from pipeline.report.challenge_chart import challenge_chart
from pipeline.report.chart_data import Chart
from pipeline.report.cost_charts import macs_chart, throughput_chart
from pipeline.report.leaderboard import Row
from pipeline.report.reference_chart import reference_chart
from pipeline.report.references import load_references
from pipeline.report.render_html import render_html
from pipeline.report.render_png import render_png
from pipeline.report.scaling_charts import balance_chart, scaling_chart

ZOO = {  # arch: (MACs, top-1) of a typical point, around which the trials scatter
    "lenet5": (4e5, 0.89),
    "alexnet": (7e8, 0.90),
    "vgg16": (1.5e10, 0.93),
    "resnet18": (1.8e9, 0.94),
    "resnet50": (4.1e9, 0.95),
    "mobilenetv2": (3e8, 0.94),
    "efficientnet": (4e8, 0.95),
}
COEFFICIENTS = (1.01, 3.0)  # the range of depth, width and resolution multipliers drawn
GENERATED = "GENERATED trials, not measured runs"


def generated_row(rng: random.Random, index: int, arch: str, **fields) -> Row:
    """One made-up finished trial of `arch` (two seeds), near its typical point."""
    macs, top1 = ZOO[arch]
    values = {
        "trial": f"{arch}_t{index}", "scaling": {}, "resolution": 32, "params": 1e6,
        "macs": macs * rng.uniform(0.5, 2.0), "top1": min(0.999, top1 + rng.uniform(-0.05, 0.03)),
        "throughput": 1e10 / macs * rng.uniform(0.5, 2), "top1_std": rng.uniform(0.001, 0.02),
        "n": 2,
    } | fields  # fmt: skip
    values["top5"] = min(1.0, values["top1"] + 0.04)
    return Row(arch=arch, pareto=False, best_epoch=1, epochs=1, train_time=1.0,
               status="finished", run_id=f"r{index}", **values)  # fmt: skip


def with_front(rows: list[Row]) -> list[Row]:
    """The leaderboard's Pareto marks: more accurate than every cheaper trial."""
    best, marked = -1.0, []
    for row in sorted(rows, key=lambda r: r.macs):
        marked.append(replace(row, pareto=row.top1 > best))
        best = max(best, row.top1)
    return marked


def zoo_rows(count: int) -> list[Row]:
    """`count` trials across the ladder's architectures, Pareto front marked."""
    rng, archs = random.Random(count), itertools.cycle(ZOO)
    return with_front([generated_row(rng, i, next(archs)) for i in range(count)])


def scaled_rows(count: int) -> list[Row]:
    """EfficientNet points scaled in one dimension, or in all three (compound), whose top-1
    grows with the log of their cost, as the paper's curves do."""
    rng = random.Random(count)
    points = []
    for _ in range(count):
        scaled = rng.choice(("alpha", "beta", "gamma", "all"))
        drawn = {key: round(rng.uniform(*COEFFICIENTS), 2) for key in ("alpha", "beta", "gamma")}
        points.append(tuple(drawn[key] if scaled in (key, "all") else 1.0
                            for key in ("alpha", "beta", "gamma")))  # fmt: skip
    return [efficientnet_point(rng, i, *point) for i, point in enumerate(points)]


def balance_rows(count: int) -> list[Row]:
    """The balance figure's grid: width swept under two depths and two resolutions."""
    rng = random.Random(count)
    grid = itertools.cycle(itertools.product((1.0, 2.0), (1.0, 1.3)))
    return [efficientnet_point(rng, i, depth, round(rng.uniform(*COEFFICIENTS), 2), gamma)
            for i, (depth, gamma) in zip(range(count), grid, strict=False)]  # fmt: skip


def efficientnet_point(rng: random.Random, index: int, alpha: float, beta: float,
                       gamma: float) -> Row:  # fmt: skip
    """B0 at 48 px scaled by depth `alpha`, width `beta` and resolution `gamma`."""
    macs = 2e7 * alpha * (beta * gamma) ** 2
    scaling = {"alpha": str(alpha), "beta": str(beta), "gamma": str(gamma), "phi": "1"}
    top1 = 0.90 + 0.015 * math.log2(macs / 2e7) + rng.uniform(-0.005, 0.005)
    return generated_row(
        rng,
        index,
        "efficientnet",
        scaling=scaling,
        macs=macs,
        top1=top1,
        top1_std=rng.uniform(0.001, 0.004),
        resolution=round(48 * gamma),
    )


def reference_rows(count: int) -> list[Row]:
    """Trials of the architectures in Fashion-MNIST's published table."""
    rng = random.Random(count)
    archs = itertools.cycle(("lenet5", "alexnet", "vgg16", "resnet18", "mobilenetv2"))
    return [generated_row(rng, i, next(archs)) for i in range(count)]


CHARTS: dict[str, Callable[[int], Chart]] = {
    "imagenet_challenge": lambda n: challenge_chart(zoo_rows(n), load_references()),
    "accuracy_vs_macs": lambda n: macs_chart(zoo_rows(n), load_references()),
    "accuracy_vs_throughput": lambda n: throughput_chart(zoo_rows(n)),
    "scaling": lambda n: scaling_chart(scaled_rows(n)),
    "balance": lambda n: balance_chart(balance_rows(n)),
    "reference": lambda n: reference_chart(reference_rows(n), [], "fashion-mnist"),
}


def generated_chart(name: str, count: int) -> Chart:
    """Chart `name` of `count` generated trials, saying so in its note."""
    chart = CHARTS[name](count)
    return replace(chart, note=f"{GENERATED}. {chart.note}" if chart.note else GENERATED)


def bench_charts(sizes: list[int]) -> dict:
    """Seconds to draw each chart (PNG and HTML) at each count of generated trials."""
    seconds: dict[str, dict[int, float]] = {name: {} for name in CHARTS}
    with tempfile.TemporaryDirectory(prefix="ladder-charts-") as scratch:
        for count, name in itertools.product(sizes, CHARTS):
            chart = generated_chart(name, count)
            start = time.perf_counter()
            render_png(chart, Path(scratch) / f"{name}.png")
            render_html(chart, Path(scratch) / f"{name}.html")
            seconds[name][count] = round(time.perf_counter() - start, 3)
    return {
        "benchmark": "charts",
        "x": "generated trials",
        "largest": max(sizes),
        "curves": curves(seconds),
    }


def plot(result: dict, path: Path) -> None:
    """The timing curves, and beside them each chart's PNG at the largest count."""
    from pipeline.bench.scale import plot as plot_curves

    plot_curves(result, path)
    count = result["largest"]
    for name in CHARTS:
        render_png(generated_chart(name, count), path.parent / f"{name}_{count}_trials.png")
