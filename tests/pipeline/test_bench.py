"""`ladder bench data` and `ladder bench model`: real loaders and real models, JSON out."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.cli import main
from tests.pipeline.conftest import private_ray_tmpdir, stop_ray_processes
from tests.pipeline.sweeps import sweep_env

FAST = ["--batch-size", "4", "--loader-workers", "1", "--batches", "2", "--rounds", "2"]


def test_bench_data_on_synthetic_photos_reports_each_goal(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "data", "--synthetic", "24", "--resolutions", "160,32", *FAST]
    assert main([*argv, "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result
    assert result["data"] == "24 synthetic 500x375 photos" and result["rounds"] == 2
    for unit in ("images_per_s", "cpu_ms_per_image"):
        assert set(result[unit]) == {"160", "32"}
        for values in result[unit].values():
            assert set(values) == {"shards", "image_folder", "limit"}
            assert all(value > 0 for value in values.values())
    targets = {(goal["resolution"], goal["target"]) for goal in result["goals"]}
    assert targets == {(160, 0.95), (160, 1.5), (32, 0.95), (32, 3.0)}
    for goal in result["goals"]:
        assert len(goal["ratios_per_round"]) == 2
        assert goal["pass"] == (goal["ratio"] >= goal["target"]) and goal["cpu_ratio"] > 0


def test_bench_data_without_src_reads_the_shards_jpegs_as_image_folder(imagenet_shards, capsys):
    argv = ["bench", "data", "--data", str(imagenet_shards), "--resolutions", "32", *FAST]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["src"] == "the shards' JPEGs, extracted"
    assert all(rate > 0 for rate in result["images_per_s"]["32"].values())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "--synthetic N"),
        (["--data", "{tmp}"], "no manifest.json"),
        (["--synthetic", "8", "--src", "{tmp}"], "no train/ folder"),
        (["--synthetic", "8", "--resolutions", "224,x"], "--resolutions"),
    ],
)
def test_bench_data_usage_errors(flags, message, tmp_path, capsys):
    assert main(["bench", "data", *(f.format(tmp=tmp_path) for f in flags)]) == 2
    assert message in capsys.readouterr().err


def test_model_bench_reports_throughput_macs_and_memory(capsys):
    argv = ["bench", "model", "--arch", "lenet5,resnet18", "--resolution", "32"]
    assert main([*argv, "--batch-size", "4", "--steps", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu" and report["precision"] == "32-true"
    lenet, resnet = report["models"]
    assert (lenet["arch"], resnet["arch"]) == ("lenet5", "resnet18")
    assert resnet["params"] == 11_689_512 and resnet["macs"] > lenet["macs"] > 0
    for model in report["models"]:
        assert model["train_images_per_s"] > 0 and model["infer_images_per_s"] > 0
        assert model["latency_ms"] > 0
        assert model["peak_memory_mb"] >= 0


def test_model_bench_rejects_unknown_arch(capsys):
    assert main(["bench", "model", "--arch", "lenet5,nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err


# ---- how costs grow with scale (pipeline/bench/scale.py): real stores, real commands


def test_bench_tracking_times_the_leaderboard_and_keeps_its_stores(tmp_path, capsys):
    out, store = tmp_path / "scale" / "tracking.json", tmp_path / "stores"
    argv = ["bench", "tracking", "--runs", "4,8", "--rounds", "1", "--store", str(store)]
    assert main([*argv, "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result and out.with_suffix(".png").stat().st_size > 0
    for curve in result["curves"].values():
        assert set(curve["seconds"]) == {"4", "8"} and all(t > 0 for t in curve["seconds"].values())
        assert isinstance(curve["loglog_slope"], float)
    assert all(seconds > 0 for seconds in result["generate_seconds"].values())
    assert main([*argv]) == 0  # the stores are reused, not written again
    assert json.loads(capsys.readouterr().out)["generate_seconds"] == {"4": None, "8": None}


def test_bench_shards_rerun_times_the_rerun_with_and_without_verify(capsys):
    argv = ["bench", "shards-rerun", "--shards", "2,3", "--per-shard", "2", "--rounds", "1"]
    assert main(argv) == 0
    curves = json.loads(capsys.readouterr().out)["curves"]
    assert set(curves) == {"rerun", "rerun --verify", "first write"}
    assert all(set(curve["seconds"]) == {"2", "3"} for curve in curves.values())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tracking", "--runs", "100,x"], "--runs '100,x': expected counts >= 1"),
        (["shards-rerun", "--shards", "0"], "--shards '0': expected counts >= 1"),
        (["shards-rerun", "--per-shard", "0"], "--per-shard 0: expected >= 1"),
        (["sweep", "--trials", "0"], "--trials '0': expected counts >= 1"),
        (["sweep", "--trials", "-8"], "--trials '-8': expected counts >= 1"),
        (["sweep", "--trials", "8,x"], "--trials '8,x': expected counts >= 1"),
        (["sweep", "--asha-trials", "-4"], "--asha-trials -4: expected 0 or a multiple of 4"),
        (["sweep", "--asha-trials", "6"], "--asha-trials 6: expected 0 or a multiple of 4"),
    ],
)
def test_bench_scale_usage_errors(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.scenario  # a whole story, minutes long: `make test-scenarios`, CI
def test_bench_sweep_breaks_a_real_sweep_down_by_phase(digits_shards, tmp_path, capsys):
    """Two sizes of real sweeps of trivial trials, then an ASHA sweep of 8 (seeds 0-3 of
    two LeNet-5s), on a local Ray of this test's own."""
    ray_tmpdir = private_ray_tmpdir()
    out = tmp_path / "sweep.json"
    argv = ["bench", "sweep", "--trials", "1,3", "--asha-trials", "8", "--data",
            str(digits_shards), "--out", str(out)]  # fmt: skip
    try:
        with pytest.MonkeyPatch.context() as env:
            for key, value in sweep_env(RAY_TMPDIR=ray_tmpdir).items():
                env.setenv(key, value)
            assert main(argv) == 0
    finally:
        stop_ray_processes(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result and out.with_suffix(".png").stat().st_size > 0
    assert set(result["points"]) == {"1", "3"} and set(result["curves"]) == {"wall", "per trial"}
    for point in result["points"].values():
        assert 0 < point["training_s"] < point["in_trial_s"]
        assert point["per_trial_s"] >= point["in_trial_s"] - 1  # Tune's times: whole seconds
        assert point["sweep_startup_s"] > 0 and point["sweep_end_s"] >= 0
        assert point["wall_s"] > point["sweep_startup_s"] + point["per_trial_s"]
        assert 100 < point["driver_peak_mb"] < 8192  # torch, Ray and MLflow in one process
    assert result["points"]["3"]["wall_s"] > result["points"]["1"]["wall_s"]
    asha = result["asha"]  # every trial ran, and ASHA ended some at a rung: epoch 1 or 2
    assert (asha["trials"], asha["never_ran"]) == (8, 0)
    assert asha["finished"] >= 1 and asha["stopped_early"] >= 1
    assert asha["finished"] + asha["stopped_early"] == 8
    assert asha["epochs_trained"] < 8 * asha["max_epochs"]
    assert 1 <= asha["max_running"] <= result["slots"] and 0 < asha["slots_busy"] <= 1
