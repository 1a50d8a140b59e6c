"""`ladder chart`: readable PNGs and offline HTML, the user's trials on them, the published
reference alone when there is nothing of the user's yet, and the references themselves."""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient
from PIL import Image, ImageChops

from pipeline.cli import main
from pipeline.report.challenge_chart import challenge_chart
from pipeline.report.chart_data import Chart, Series, error_bounds
from pipeline.report.chart_style import short_scaling
from pipeline.report.cost_charts import macs_chart, throughput_chart
from pipeline.report.leaderboard import Row
from pipeline.report.references import load_references
from pipeline.report.render_png import render_png
from pipeline.report.scaling_charts import balance_chart, scaling_chart
from tests.pipeline.conftest import SEEDED_TRIALS, PlannedTrial

CHARTS = ("imagenet_challenge", "accuracy_vs_macs", "accuracy_vs_throughput")


def assert_charts(out: Path, names: tuple[str, ...] = CHARTS) -> dict[str, str]:
    """The charts exist as sensible PNGs and self-contained HTML; returns the HTML."""
    pages = {}
    for name in names:
        with Image.open(out / f"{name}.png") as image:
            image.verify()
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG" and image.width >= 1000 and image.height >= 600
        html = (out / f"{name}.html").read_text(encoding="utf-8")
        assert "Plotly.newPlot" in html and "plotly.js v" in html  # the library is inline
        assert '<script src="http' not in html  # nothing from a CDN: it works offline
        pages[name] = html
    return pages


def test_charts_show_the_trials_and_go_to_the_parent_run(store, sweep_logger, tmp_path, capsys):
    tracker = sweep_logger(store)
    out = tmp_path / "charts"
    assert main(["chart", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""

    pages = assert_charts(out)
    labels = [
        "yours: lenet5 @32px",
        "yours: resnet18 w1.0 d1.0 @32px",
        "yours: efficientnet α1.2 β1.1 γ1.15 φ1 @37px",
        "yours: vgg16 @32px",
    ]
    for label in labels:
        as_json = json.dumps(label)[1:-1]  # plotly writes the figure as ASCII JSON
        assert as_json in pages["accuracy_vs_macs"]
        assert as_json in pages["imagenet_challenge"]
    assert "ResNet-50" in pages["accuracy_vs_macs"] and "EfficientNet-B7" in pages[CHARTS[1]]
    assert "Trimps-Soushen" in pages["imagenet_challenge"]
    logged = MlflowClient(store).list_artifacts(tracker.parent_run_id, "charts")
    assert sorted(Path(a.path).name for a in logged) == sorted(
        f"{name}.{suffix}" for name in CHARTS for suffix in ("png", "html")
    )


def test_no_finished_trial_still_draws_the_published_results(
    store, sweep_logger, trials, tmp_path, capsys
):
    sweep_logger(store, trials=trials[:2], epochs=0)
    out = tmp_path / "charts"
    assert main(["chart", "--experiment", "sweep-a", "--out", str(out)]) == 0
    assert "no finished trial yet; drawing the published results only" in capsys.readouterr().err
    pages = assert_charts(out)
    assert all("yours:" not in html for html in pages.values())
    assert "EfficientNet-B0" in pages["accuracy_vs_macs"]


def test_without_a_store_it_draws_the_published_results(store, tmp_path, capsys):
    (tmp_path / "mlflow.db").unlink()
    assert main(["chart", "--out", str(tmp_path / "charts")]) == 0
    assert "no finished trial yet" in capsys.readouterr().err
    assert_charts(tmp_path / "charts")
    assert not (tmp_path / "mlflow.db").exists()


def test_unknown_experiment_is_exit_2(store, sweep_logger, tmp_path, capsys):
    sweep_logger(store, epochs=1)
    assert main(["chart", "--experiment", "nope", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such experiment; existing:" in err and "sweep-a" in err
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("arch", "year"),
    [("lenet5", 1998), ("alexnet", 2012), ("vgg16", 2014), ("resnet50", 2015),
     ("resnet26", 2015), ("mobilenetv2", 2018), ("efficientnet", 2019),
     ("efficientnet_b3", 2019), ("no_such_net", None)],
)  # fmt: skip
def test_every_zoo_family_has_its_year(arch, year):
    assert load_references().year_of(arch) == year


def test_references_carry_their_sources():
    references = load_references()
    winners = {w.year: w.top5_error for w in references.winners}
    assert winners == {2010: 28.2, 2011: 25.8, 2012: 16.4, 2013: 11.7, 2014: 6.7,
                       2015: 3.57, 2016: 2.99, 2017: 2.25}  # fmt: skip
    assert references.human.top5_error == 5.1
    resnet50 = references.model("resnet50")
    assert (resnet50.top1, resnet50.top5, resnet50.macs) == (76.13, 92.862, 4.089e9)
    b7 = references.model("efficientnet_b7")
    assert (b7.top1, b7.macs, b7.params) == (84.3, 37e9, 66e6)
    assert references.model("mobilenetv2").top1 == 72.0
    assert all(m.source for m in references.models) and all(w.source for w in references.winners)
    families = references.by_family()
    assert [m.key for m in families["EfficientNet"]] == [f"efficientnet_b{i}" for i in range(8)]
    assert [m.key for m in families["VGG"]] == ["vgg11", "vgg13", "vgg16", "vgg19"]


def test_reference_years_agree_with_the_zoo():
    """The charts date a trial from references.json (no torch import for `ladder chart`);
    the zoo's own metadata must say the same, and every published key must be a zoo name."""
    from lightning_modules.architectures import list_models, model_info

    references = load_references()
    assert {name: references.year_of(name) for name in list_models()} == {
        name: model_info(name).year for name in list_models()
    }
    assert {model.key for model in references.models} <= set(list_models())


# ---- what the charts show, as data (no MLflow, no drawing)


def trial(arch: str, top1: float, macs: float = 1e6, pareto: bool = False, **fields) -> Row:
    values = {"trial": arch, "scaling": {}, "resolution": 32, "params": 1e6, "top5": top1}
    values |= fields
    return Row(arch=arch, top1=top1, macs=macs, pareto=pareto, best_epoch=1, epochs=1,
               train_time=1.0, status="finished", run_id="r", **values)  # fmt: skip


def series_named(chart: Chart, name: str) -> Series:
    return next(series for series in chart.series if series.name == name)


def test_the_pareto_front_is_a_step_line_by_cost():
    rows = [
        trial("resnet50", 0.875, macs=4e9, pareto=True),
        trial("lenet5", 0.5, macs=4e5, pareto=True),
        trial("vgg16", 0.625, macs=3e8),
        trial("resnet18", 0.75, macs=2e9, pareto=True),
    ]
    front = series_named(macs_chart(rows, load_references()), "yours, Pareto front")
    assert front.kind == "steps"
    assert (front.xs, front.ys) == ((4e5, 2e9, 4e9), (50.0, 75.0, 87.5))


def test_eight_trials_are_all_labelled_stars():
    rows = [trial("resnet18", 0.5 + i / 100, macs=1e6 * (i + 1), trial=f"t{i}") for i in range(8)]
    chart = macs_chart(rows, load_references())
    stars = series_named(chart, "yours (best top-1 per trial)")
    assert stars.labels == ("yours: resnet18 @32px",) * 8 and stars.opacity == 1
    assert not any(series.name.startswith("yours, ") and "more" in series.name
                   for series in chart.series)  # fmt: skip


def test_a_thousand_trials_label_the_front_and_the_best_and_dot_the_rest(tmp_path):
    """At 1,000 trials: labelled stars for the Pareto front and the 5 most accurate, the
    other trials small translucent dots, and every trial in the HTML's hover."""
    accuracy = [(i * 7919 % 1000) / 1000 for i in range(1000)]  # a shuffled 0.000..0.999
    front = {0, 500, 999}  # the leaderboard's marks
    rows = [trial("resnet18", accuracy[i], macs=1e6 * (i + 1), pareto=i in front, trial=f"t{i}")
            for i in range(1000)]  # fmt: skip
    chart = macs_chart(rows, load_references())
    stars = series_named(chart, "yours (best top-1 per trial) (the Pareto front and the top 5)")
    dots = series_named(chart, "yours, 992 more trials")
    best = sorted(range(1000), key=lambda i: accuracy[i])[-5:]
    assert sorted(stars.xs) == sorted(1e6 * (i + 1) for i in {*front, *best})
    assert not dots.labels
    points = zip(stars.xs, stars.ys, stars.labels, strict=True)
    labelled = [(x, y) for x, y, label in points if label]
    assert len(labelled) >= 3 and (1e6 * (best[-1] + 1), 100 * accuracy[best[-1]]) in labelled
    crowded = [
        (a, b)
        for a, b in itertools.combinations(labelled, 2)
        if abs(math.log10(a[0] / b[0])) < 1 and abs(a[1] - b[1]) < 1  # a decade, a point
    ]
    assert crowded == []  # no label prints over another
    assert dots.size < stars.size and dots.opacity < 1
    hovers = [text.split(" (")[1].split(")")[0] for text in stars.hovertexts + dots.hovertexts]
    assert sorted(hovers) == sorted(f"t{i}" for i in range(1000))
    render_png(chart, tmp_path / "many.png")
    with Image.open(tmp_path / "many.png") as image:
        assert image.size[0] > 1000


def test_the_challenge_chart_packs_early_years_and_labels_the_best_of_each(capsys):
    rows = [trial("lenet5", 0.5), trial("resnet18", 0.625), trial("resnet50", 0.75),
            trial("no_such_net", 0.875)]  # fmt: skip
    chart = challenge_chart(rows, load_references())
    assert "no year known for no_such_net" in capsys.readouterr().err
    x_of = {text: x for x, text in chart.x.ticks}
    assert (x_of["1998"], x_of["2010"]) == (0, 1)  # no empty decade between them
    assert [rule.at for rule in chart.vlines] == [0.5]  # the cut
    rings = series_named(chart, "yours, top-1 error")
    assert rings.xs == (0.2, x_of["2015"] + 0.2, x_of["2015"] + 0.2)
    assert rings.labels == ("yours: lenet5 @32px", "", "yours: resnet50 @32px (+1 more)")
    assert chart.note and not challenge_chart([], load_references()).note


def test_short_scaling_uses_the_papers_symbols():
    scaling = {"alpha": "1.2", "beta": "1.1"}
    assert short_scaling(trial("efficientnet", 0.5, scaling=scaling)) == "α1.2 β1.1"
    assert short_scaling(trial("resnet18", 0.5, scaling={"width": "2"})) == "w2"


def test_the_throughput_chart_has_its_own_front():
    rows = [
        trial("lenet5", 0.61, macs=4e5, pareto=True, throughput=20_000.0),
        trial("resnet18", 0.72, macs=3.7e7, throughput=3_000.0),  # off the MACs front
        trial("efficientnet", 0.80, macs=1.2e7, pareto=True, throughput=1_500.0),
        trial("vgg16", 0.70, macs=3.1e8, throughput=300.0),
    ]
    front = series_named(throughput_chart(rows), "yours, Pareto front")
    assert front.xs == (1_500.0, 3_000.0, 20_000.0) and front.ys == (80.0, 72.0, 61.0)
    macs_front = series_named(macs_chart(rows, load_references()), "yours, Pareto front")
    assert macs_front.xs == (4e5, 1.2e7)
    assert throughput_chart([trial("lenet5", 0.5)]).series == ()  # nothing measured


def scaled(top1: float, alpha: float, beta: float, gamma: float, macs: float) -> Row:
    scaling = {"alpha": str(alpha), "beta": str(beta), "gamma": str(gamma), "phi": "1"}
    return trial("efficientnet", top1, macs=macs, scaling=scaling, resolution=round(48 * gamma),
                 trial=f"a{alpha}_b{beta}_g{gamma}")  # fmt: skip


SINGLE = [
    scaled(0.90, 1.0, 1.0, 1.0, 2e7),
    scaled(0.93, 1.0, 2.0, 1.0, 8e7),
    scaled(0.94, 1.0, 3.0, 1.0, 1.8e8),
    scaled(0.92, 2.0, 1.0, 1.0, 4e7),
    scaled(0.935, 1.0, 1.0, 1.5, 4.5e7),
    scaled(0.95, 1.2, 1.1, 1.15, 4e7),  # compound: on no single-dimension curve
]


def test_the_scaling_figure_has_a_curve_per_dimension_from_the_base():
    chart = scaling_chart(SINGLE)
    assert [s.name for s in chart.series] == [
        "scale width only (w)", "scale depth only (d)", "scale resolution only (r)"
    ]  # fmt: skip
    width, depth, resolution = chart.series
    assert width.xs == (4e7, 1.6e8, 3.6e8)  # FLOPs = 2 x MACs, the paper's unit
    assert width.ys == (90.0, 93.0, 94.0) and width.labels == ("w=1", "w=2", "w=3")
    assert depth.labels == ("", "d=2") and resolution.labels == ("", "r=72")  # base once
    assert "Figure 3" in chart.title and "FLOPs" in chart.x.title


def test_the_balance_figure_has_a_width_curve_per_depth_and_resolution():
    rows = [scaled(0.9 + w / 100 + d / 50 + g / 20, d, w, g, 1e7 * w * w * d * g * g)
            for d in (1.0, 2.0) for g in (1.0, 1.3) for w in (1.0, 1.5, 2.0)]  # fmt: skip
    chart = balance_chart(rows)
    assert [s.name for s in chart.series] == [
        "d=1, r=1", "d=1, r=1.3", "d=2, r=1", "d=2, r=1.3"
    ]  # fmt: skip
    assert all(s.labels == ("w=1", "w=1.5", "w=2") for s in chart.series)
    assert all(s.xs == tuple(sorted(s.xs)) for s in chart.series)


def test_a_figure_without_scaled_trials_is_empty_and_says_why(capsys):
    chart = scaling_chart([trial("lenet5", 0.5)])
    assert chart.series == ()
    assert "no trial has depth, width and resolution coefficients" in capsys.readouterr().err


def test_a_plain_chart_adds_the_figure_of_the_space(store, sweep_logger, tmp_path):
    planned = [
        PlannedTrial(f"t{i}", row.trial, {"arch": "efficientnet", "resolution": row.resolution,
                     **{k: float(v) for k, v in row.scaling.items()}},
                     4e6, row.macs, [row.top1], [1.0])
        for i, row in enumerate(SINGLE)
    ]  # fmt: skip
    tracker = sweep_logger(store, trials=planned, space="single_dimension")
    assert main(["chart", "--out", str(tmp_path / "all")]) == 0
    pages = assert_charts(tmp_path / "all", (*CHARTS, "scaling"))
    assert "scale width only (w)" in pages["scaling"]
    logged = MlflowClient(store).list_artifacts(tracker.parent_run_id, "charts")
    assert "charts/scaling.png" in {artifact.path for artifact in logged}

    assert main(["chart", "--figure", "balance", "--out", str(tmp_path / "one")]) == 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["balance.html", "balance.png"]


# ---- seeds: error bars of ± the std over a point's seeds


def test_points_of_several_seeds_have_error_bars_in_the_html(store, sweep_logger, tmp_path):
    sweep_logger(store, trials=SEEDED_TRIALS)
    out = tmp_path / "charts"
    assert main(["chart", "--out", str(out), "--figure", "accuracy_vs_macs"]) == 0

    html = assert_charts(out, ("accuracy_vs_macs",))["accuracy_vs_macs"]
    (stars,) = re.findall(r'"error_y":\{"array":\[([^\]]*)\]', html)  # the trials' only
    bars = [None if value == "null" else float(value) for value in stars.split(",")]
    # In leaderboard order, in percent: efficientnet (one seed: no bar), resnet18, lenet5, vgg16
    assert bars[0] is None and bars[1:] == pytest.approx([2.8284, 2.8284, 5.6569], abs=1e-3)
    assert json.dumps("62.00% ± 2.83 (n=2) top-1")[1:-1] in html  # the hover text, as ASCII


def test_error_bars_are_drawn_in_the_png(tmp_path):
    rows = [trial("lenet5", 0.62, macs=4e5, pareto=True, top1_std=0.03, n=2),
            trial("resnet18", 0.80, macs=2e9, pareto=True)]  # fmt: skip
    chart = macs_chart(rows, load_references())
    stars = series_named(chart, "yours (best top-1 per trial)")
    assert stars.errors == (pytest.approx(3.0), None)
    seeded = [replace(SINGLE[0], top1_std=0.01, n=3), *SINGLE[1:]]
    width = scaling_chart(seeded).series[0]  # the paper's figures have them too
    assert width.errors == (pytest.approx(1.0), None, None)
    without = replace(chart, series=tuple(replace(s, errors=()) for s in chart.series))
    render_png(chart, tmp_path / "bars.png")
    render_png(without, tmp_path / "none.png")
    with Image.open(tmp_path / "bars.png") as bars, Image.open(tmp_path / "none.png") as none:
        assert ImageChops.difference(bars.convert("RGB"), none.convert("RGB")).getbbox()


def test_a_timm_model_is_a_point_of_its_own_on_the_cost_charts(capsys):
    """`timm:NAME` trials: on the MACs and throughput charts by their label; off the
    challenge chart, whose x axis is the year of publication, with one line saying so."""
    rows = [trial("timm:resnet10t", 0.9, macs=1e8, throughput=900.0),
            trial("lenet5", 0.8, macs=4e5, throughput=9000.0)]  # fmt: skip
    references = load_references()
    labels = {label for series in macs_chart(rows, references).series for label in series.labels}
    assert any("timm:resnet10t" in label for label in labels)
    assert any(
        "timm:resnet10t" in label for s in throughput_chart(rows).series for label in s.labels
    )
    challenge_chart(rows, references)
    assert "no year known for timm:resnet10t" in capsys.readouterr().err


def test_an_error_bar_stops_at_100_and_at_0_percent():
    series = Series("s", "markers", xs=(1, 2, 3), ys=(99.0, 1.0, 50.0), color="red",
                    errors=(3.0, 3.0, None))  # fmt: skip
    assert error_bounds(series) == ((3.0, 1.0, None), (1.0, 3.0, None))


def test_the_challenge_title_names_your_runs_only_when_there_are_some():
    assert "your runs" not in challenge_chart([], load_references()).title
    assert "your runs" in challenge_chart([trial("resnet18", 0.7)], load_references()).title
