"""Point labels that stay on the plot and print over nothing (the PNG charts).

matplotlib puts an annotation where it is told. Two trials of one accuracy and cost put
their labels on one spot, a label near the right edge runs out of the plot, a label can
sit on its own marker, its error bar or a published line. So, once the layout is fixed,
each label is tried at the chart's place for it, then at the other sides of its point,
and keeps the first place inside the plot that touches no text, no labelled marker, no
error bar and no line across the plot. A label with no free place is left out (the HTML
page keeps every point's text in its hover).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GAP = 3.0  # points between a marker's edge and its label
SIDES = (  # (direction of the offset, ha, va): right, left, above, below, then corners
    ((1, 0), "left", "center"),
    ((-1, 0), "right", "center"),
    ((0, 1), "center", "bottom"),
    ((0, -1), "center", "top"),
    ((1, 1), "left", "bottom"),
    ((-1, 1), "right", "bottom"),
    ((1, -1), "left", "top"),
    ((-1, -1), "right", "top"),
)


@dataclass
class PointLabel:
    """One drawn annotation and the size (points) of the marker it names."""

    text: Any  # matplotlib.text.Annotation
    marker_size: float


def place_labels(figure: Any, axes: Any, labels: list[PointLabel], obstacles: list[Any]) -> None:
    """Move each of `labels` to its first free place (module doc), hiding those with none.
    `obstacles` are display-space boxes already taken (markers, error bars, lines); the
    figure's other texts are added to them."""
    renderer = figure.canvas.get_renderer()
    plot = axes.get_window_extent(renderer)
    own = {id(label.text) for label in labels}
    taken = list(obstacles) + [
        text.get_window_extent(renderer) for text in visible_texts(figure) if id(text) not in own
    ]
    legend = axes.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent(renderer))
    for label in labels:
        box = first_free_place(label, renderer, plot, taken)
        if box is None:
            label.text.set_visible(False)
        else:
            taken.append(box)


def first_free_place(label: PointLabel, renderer: Any, plot: Any, taken: list[Any]) -> Any:
    """Try the chart's own place, then SIDES; the label's box where it fits, else None."""
    text = label.text
    away = label.marker_size / 2 + GAP
    wanted = (text.xyann, text.get_ha(), text.get_va())
    places = [wanted] + [((dx * away, dy * away), ha, va) for (dx, dy), ha, va in SIDES]
    for offset, ha, va in places:
        text.xyann = offset
        text.set_horizontalalignment(ha)
        text.set_verticalalignment(va)
        box = text.get_window_extent(renderer)
        inside = plot.x0 <= box.x0 and box.x1 <= plot.x1 and plot.y0 <= box.y0 and box.y1 <= plot.y1
        if inside and not any(box.overlaps(other) for other in taken):
            return box
    return None


def visible_texts(figure: Any) -> list[Any]:
    """Every text drawn on the figure: titles, axis titles, tick labels within the axes'
    range (matplotlib keeps the others, undrawn), legend entries, labels."""
    from matplotlib.text import Text

    undrawn = set()
    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low <= tick.get_loc() <= high:
                    undrawn.update({id(tick.label1), id(tick.label2)})
    return [
        text
        for text in figure.findobj(Text)
        if text.get_visible() and text.get_text().strip() and id(text) not in undrawn
    ]
