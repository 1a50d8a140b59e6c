"""Any `Chart` as one self-contained HTML page (plotly, its JavaScript inline, so that it
opens offline and inside the MLflow UI); every point with a hover text says what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.report.chart_data import Axis, Chart, Rule, Series, error_bounds
from pipeline.report.chart_style import BAR_WIDTH


def render_html(chart: Chart, path: Path) -> None:
    """Draw `chart` with plotly as one self-contained page (its JavaScript inline, so it
    opens offline and inside the MLflow UI); every point with a hover text says what it is."""
    import plotly.graph_objects as go

    figure = go.Figure([html_trace(series) for series in chart.series])
    for rule in chart.hlines:
        figure.add_hline(y=rule.at, **html_rule_style(rule))
    for rule in chart.vlines:
        figure.add_vline(x=rule.at, **html_rule_style(rule))
    figure.update_layout(
        title=chart.title + (f"<br><sup>{chart.note}</sup>" if chart.note else ""),
        xaxis=html_axis(chart.x),
        yaxis=html_axis(chart.y),
        uniformtext={"minsize": 10, "mode": "show"},  # bar labels readable, not shrunk to fit
        template="plotly_white",
    )
    figure.write_html(path, include_plotlyjs=True)


def html_rule_style(rule: Rule) -> dict[str, Any]:
    style = {"line_dash": rule.dash, "line_color": rule.color}
    return style | ({"annotation_text": rule.label} if rule.label else {})


def html_text(texts: tuple[str, ...]) -> list[str] | None:
    return [text.replace("\n", "<br>") for text in texts] or None


def html_trace(series: Series) -> Any:
    """A plotly trace holding only what `series` sets; text sizes in pixels, about what the
    PNG's points measure at 110 dpi."""
    import plotly.graph_objects as go

    trace: dict[str, Any] = {"x": series.xs, "y": series.ys, "name": series.name}
    if series.labels:
        color = series.label_color or series.color
        trace["text"] = html_text(series.labels)
        trace["textfont"] = {"size": 1.5 * series.label_size, "color": color}
        trace["cliponaxis"] = False  # a label may reach out of the plot
    if series.hovertexts:
        trace["hovertext"] = html_text(series.hovertexts)
        trace["hoverinfo"] = "text"
    if series.errors:  # plotly draws no bar where the value is None
        below, above = error_bounds(series)
        trace["error_y"] = {"type": "data", "symmetric": False, "array": above,
                            "arrayminus": below, "color": series.color}  # fmt: skip
    if series.kind == "bar":
        marker = {"color": series.color, "line": {"color": series.outline}}
        return go.Bar(trace, width=BAR_WIDTH, marker=marker, textposition="outside", textangle=0)
    modes = ["lines"] if series.kind != "markers" else []
    if series.marker:
        modes.append("markers")
        trace["marker"] = {"symbol": series.marker, "color": series.color, "size": series.size,
                           "opacity": series.opacity}  # fmt: skip
    if series.labels:
        modes.append("text")
        trace["textposition"] = series.label_position
    if series.kind != "markers":
        shape = "hv" if series.kind == "steps" else "linear"
        trace["line"] = {"color": series.color, "dash": series.dash, "shape": shape}
    return go.Scatter(trace, mode="+".join(modes))


def html_axis(axis: Axis) -> dict[str, Any]:
    layout: dict[str, Any] = {"title": axis.title}
    if axis.log:
        layout["type"] = "log"
    if axis.si_units:
        layout["exponentformat"] = "SI"  # 1G, not plotly's default 1B: the PNG's units
    if axis.ticks:
        layout["tickvals"], layout["ticktext"] = zip(*axis.ticks, strict=True)
    if axis.limits:
        layout["range"] = axis.limits
    if axis.from_zero:
        layout["rangemode"] = "tozero"
    return layout
