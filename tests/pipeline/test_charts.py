"""`ladder chart`: readable PNGs and offline HTML, the user's trials on them, the published
reference alone when there is nothing of the user's yet, and the references themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from PIL import Image

from pipeline.charts import Chart, Series, challenge_chart, macs_chart, short_scaling
from pipeline.cli import main
from pipeline.leaderboard import Row
from pipeline.references import load_references

CHARTS = ("imagenet_challenge", "accuracy_vs_macs")


def assert_charts(out: Path) -> dict[str, str]:
    """Both charts exist as sensible PNGs and self-contained HTML; returns the HTML."""
    pages = {}
    for name in CHARTS:
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


def test_past_eight_trials_only_the_front_is_labelled():
    rows = [
        trial("resnet18", 0.5 + i / 100, macs=1e6 * (i + 1), pareto=i == 8, trial=f"t{i}")
        for i in range(9)
    ]
    stars = "yours (best top-1 per trial)"
    nine = series_named(macs_chart(rows, load_references()), stars)
    assert [bool(label) for label in nine.labels] == [False] * 8 + [True]
    eight = series_named(macs_chart(rows[:8], load_references()), stars)
    assert all(label == "yours: resnet18 @32px" for label in eight.labels)


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
