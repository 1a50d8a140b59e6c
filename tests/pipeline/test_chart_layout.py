"""Every chart reads at 4 trials and at 1,000 (`ladder bench charts`' generated ones): no
text leaves the canvas, no label leaves the plot, and no two texts print over each other
(matplotlib gives every text's extent)."""

from __future__ import annotations

import itertools

import pytest

from pipeline.bench.chart_scale import CHARTS, GENERATED, generated_chart
from pipeline.report.chart_data import Chart
from pipeline.report.png_labels import visible_texts
from pipeline.report.render_png import png_figure


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
    chart = generated_chart(name, trials)
    assert chart.series, f"{name} drew nothing at {trials} trials"
    assert GENERATED in chart.note  # on the figure: a reader cannot take them for runs
    assert layout_problems(chart) == []
