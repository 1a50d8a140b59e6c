"""Every chart reads at 4 trials and at 1,000: no text leaves the canvas, no label leaves
the plot, and no two texts print over each other (matplotlib gives every text's extent)."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from pipeline.report.challenge_chart import challenge_chart
from pipeline.report.chart_data import Chart
from pipeline.report.cost_charts import macs_chart, throughput_chart
from pipeline.report.leaderboard import Row
from pipeline.report.png_labels import visible_texts
from pipeline.report.reference_chart import reference_chart
from pipeline.report.references import load_references
from pipeline.report.render_png import png_figure
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


def row(rng: random.Random, index: int, arch: str, **fields) -> Row:
    macs, top1 = ZOO[arch]
    values = {
        "trial": f"{arch}_t{index}",
        "scaling": {},
        "resolution": 32,
        "params": 1e6,
        "macs": macs * rng.uniform(0.5, 2.0),
        "top1": min(0.999, top1 + rng.uniform(-0.05, 0.03)),
        "throughput": 1e10 / macs * rng.uniform(0.5, 2),
        "top1_std": rng.uniform(0.001, 0.02),
        "n": 2,
    } | fields
    values["top5"] = min(1.0, values["top1"] + 0.04)
    return Row(arch=arch, pareto=False, best_epoch=1, epochs=1, train_time=1.0,
               status="finished", run_id=f"r{index}", **values)  # fmt: skip


def with_front(rows: list[Row]) -> list[Row]:
    """The leaderboard's Pareto marks: more accurate than every cheaper trial."""
    best, marked = -1.0, []
    for item in sorted(rows, key=lambda r: r.macs):
        front = item.top1 > best
        best = max(best, item.top1)
        marked.append(replace(item, pareto=front))
    return marked


def zoo_rows(count: int) -> list[Row]:
    rng = random.Random(count)
    archs = itertools.cycle(ZOO)
    return with_front([row(rng, i, next(archs)) for i in range(count)])


def scaled_rows(count: int) -> list[Row]:
    """EfficientNet points scaled in one dimension or compound, as the paper's figures."""
    rng = random.Random(count)
    rows = []
    for i in range(count):
        alpha, beta, gamma = (rng.choice((1.0, 1.2, 1.4, 2.0, 3.0)) for _ in range(3))
        kept = rng.choice(("alpha", "beta", "gamma", "all"))
        coefficients = {key: value if kept in (key, "all") else 1.0
                        for key, value in zip(("alpha", "beta", "gamma"), (alpha, beta, gamma),
                                              strict=True)}  # fmt: skip
        scaling = {key: str(value) for key, value in coefficients.items()} | {"phi": "1"}
        macs = 2e7 * coefficients["alpha"] * (coefficients["beta"] * coefficients["gamma"]) ** 2
        rows.append(row(rng, i, "efficientnet", scaling=scaling, macs=macs,
                        resolution=round(48 * coefficients["gamma"])))  # fmt: skip
    return rows


def reference_rows(count: int) -> list[Row]:
    rng = random.Random(count)
    archs = itertools.cycle(("lenet5", "alexnet", "vgg16", "resnet18", "mobilenetv2"))
    return [row(rng, i, next(archs)) for i in range(count)]


CHARTS = {
    "imagenet_challenge": lambda n: challenge_chart(zoo_rows(n), load_references()),
    "accuracy_vs_macs": lambda n: macs_chart(zoo_rows(n), load_references()),
    "accuracy_vs_throughput": lambda n: throughput_chart(zoo_rows(n)),
    "scaling": lambda n: scaling_chart(scaled_rows(n)),
    "balance": lambda n: balance_chart(scaled_rows(n)),
    "reference": lambda n: reference_chart(reference_rows(n), [], "fashion-mnist"),
}


def layout_problems(chart: Chart) -> list[str]:
    """What a reader would trip over in the chart's PNG: texts off the canvas, point labels
    off the plot, and texts overlapping (by more than a pixel: glyphs' boxes touch)."""
    figure = png_figure(chart)
    renderer = figure.canvas.get_renderer()
    canvas = figure.bbox
    plot = figure.axes[0].get_window_extent(renderer)
    boxes = [(text.get_text(), text.get_window_extent(renderer).expanded(1, 1).padded(-1))
             for text in visible_texts(figure)]  # fmt: skip
    problems = [
        f"{text!r} leaves the canvas"
        for text, box in boxes
        if box.x0 < canvas.x0 or box.x1 > canvas.x1 or box.y0 < canvas.y0 or box.y1 > canvas.y1
    ]
    labels = {id(annotation) for annotation in figure.axes[0].texts}
    problems += [
        f"label {text.get_text()!r} leaves the plot"
        for text in figure.axes[0].texts
        if text.get_visible() and id(text) in labels
        and not plot.contains(*text.get_window_extent(renderer).p0)
    ]  # fmt: skip
    problems += [
        f"{a!r} prints over {b!r}"
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.overlaps(box_b)
    ]
    return problems


@pytest.mark.parametrize("trials", [4, 1000])
@pytest.mark.parametrize("name", list(CHARTS))
def test_no_text_is_cut_or_printed_over_another(name, trials):
    chart = CHARTS[name](trials)
    assert chart.series, f"{name} drew nothing at {trials} trials"
    assert layout_problems(chart) == []
