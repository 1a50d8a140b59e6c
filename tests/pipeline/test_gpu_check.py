"""`ladder gpu-check` on this CPU: the script a GPU machine runs, end to end, at toy size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.gpu_check import published_for


def test_published_figures_are_those_of_the_same_gpu_class():
    figures = published_for("NVIDIA GeForce RTX 4090")
    assert {f["gpu"] for f in figures} == {"RTX 4090"} and {f["compile"] for f in figures} == {
        False,
        True,
    }
    assert all(f["resnet50"] > 1000 and f["efficientnet_b0"] > 1000 for f in figures)
    others = published_for("NVIDIA H100 80GB HBM3")  # timm published none: all, marked
    assert len(others) > 2 and all(f["other_gpu"] for f in others)


@pytest.mark.slow
def test_the_gpu_check_runs_where_there_is_no_gpu(tmp_path: Path, capsys):
    out = tmp_path / "gpu-check.json"
    argv = ["gpu-check", "--arch", "lenet5", "--train-arch", "lenet5", "--resolution", "32",
            "--batch-size", "16", "--steps", "2", "--photos", "320", "--loader-workers", "1",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 1  # no GPU: the feeding goal cannot be met here
    result = json.loads(out.read_text())
    assert result["gpu"] is None and "busy_fraction" in capsys.readouterr().out
    assert [s["compile"] for s in result["speed"]] == [False, True]
    assert all(s["models"][0]["train_images_per_s"] > 0 for s in result["speed"])
    feeding = result["feeding"]
    assert 0 < feeding["busy_fraction"] <= 1 and feeding["met"] is False
