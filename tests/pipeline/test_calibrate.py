"""`ladder calibrate`: the pipeline and a bare loop trained side by side on real shards."""

from __future__ import annotations

import json

import pytest

from pipeline.cli import main


@pytest.mark.slow
def test_pipeline_and_bare_loop_both_learn_the_digits_and_are_compared(
    digits_shards, tmp_path, capsys
):
    out = tmp_path / "calibrate.json"
    argv = ["calibrate", "--data", str(digits_shards), "--epochs", "3", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    for side in ("pipeline", "bare_loop"):
        accuracies = result[side]["val_acc1"]
        assert len(accuracies) == 3 and accuracies[-1] > 0.5, (side, accuracies)  # chance: 0.1
    speed = result["throughput"]
    rounds = zip(speed["lightning_images_per_sec"], speed["bare_images_per_sec"], strict=True)
    ratios = [lightning / bare for lightning, bare in rounds]
    assert len(ratios) == 3 and speed["ratios"] == pytest.approx(ratios, abs=0.01)
    assert speed["ratio"] == sorted(speed["ratios"])[1]  # the median round
    met = result["pipeline"]["val_acc1"][-1] >= result["bare_loop"]["val_acc1"][-1]
    assert result["goals"]["accuracy_met"] is met
    assert result["model"] == "lenet5_r32" and result["recipe"]["crop_pct"] == 1.0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--epochs", "0"], "--epochs 0: expected >= 1"),
        (["--arch", "nope"], "unknown architecture"),
    ],
)
def test_bad_input_is_one_line(digits_shards, capsys, flags, expected):
    assert main(["calibrate", "--data", str(digits_shards), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
