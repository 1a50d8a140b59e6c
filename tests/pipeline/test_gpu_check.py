"""`ladder gpu-check` on this CPU: the script a GPU machine runs, end to end, at toy size."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.bench.gpu_check import GpuCheck, gpu_present, published_for, sized
from pipeline.cli import main

NO_GPU = pytest.mark.skipif(gpu_present(), reason="this machine has a GPU")


@NO_GPU
def test_without_a_gpu_it_refuses_at_once_in_one_line(capsys):
    start = time.perf_counter()
    assert main(["gpu-check"]) == 2
    assert time.perf_counter() - start < 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no GPU" in line and "--cpu" in line


@NO_GPU
def test_the_refusal_imports_no_torch():
    """A fresh `ladder gpu-check` process refuses before torch's seconds of import."""
    code = (
        "import sys; from pipeline.cli import main; main(['gpu-check']); print(sorted(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "no GPU" in out.stderr and "'torch'" not in out.stdout


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--batch-size", "0"], "--batch-size 0: expected >= 1"),
        (["--steps", "-1"], "--steps -1: expected >= 1"),
        (["--photos", "0"], "--photos 0: expected >= 1"),
        (["--photos", "8", "--batch-size", "16"], "--photos 8: expected >= --batch-size"),
        (["--loader-workers", "abc"], "--loader-workers: invalid int value: 'abc'"),
        (["--resolution", "100000"], "resolution 100000 is too large"),
        (["--resolution", "0"], "--resolution 0: expected >= 1"),
        (["--train-arch", "nosuch"], "unknown architecture 'nosuch'"),
    ],
)
def test_bad_sizes_are_one_line(flags, expected, capsys):
    assert main(["gpu-check", "--cpu", *flags]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert expected in line


def test_sizes_not_given_are_a_cpus_with_cpu_and_the_given_ones_win():
    sizes = sized(GpuCheck(cpu=True, steps=3))
    assert (sizes.arch, sizes.train_arch, sizes.resolution) == ("lenet5", "lenet5", 32)
    assert (sizes.batch_size, sizes.steps, sizes.photos) == (16, 3, 320)


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
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_the_gpu_check_runs_where_there_is_no_gpu(tmp_path: Path, capsys):
    out = tmp_path / "gpu-check.json"
    argv = ["gpu-check", "--cpu", "--out", str(out)]  # lenet5, 32 px, batch 16, 320 photos
    assert main(argv) == 1  # no GPU: the feeding goal cannot be met here
    result = json.loads(out.read_text())
    assert result["gpu"] is None and "busy_fraction" in capsys.readouterr().out
    assert [s["compile"] for s in result["speed"]] == [False, True]
    assert all(s["models"][0]["train_images_per_s"] > 0 for s in result["speed"])
    feeding = result["feeding"]
    assert 0 < feeding["busy_fraction"] <= 1 and feeding["met"] is False
