"""`ladder bench data` and `ladder bench model`: real loaders and real models, JSON out."""

from __future__ import annotations

import json

from pipeline.cli import main


def test_bench_data_prints_the_three_rates_as_json(imagenet_shards, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "data", "--data", str(imagenet_shards), "--batch-size", "4"]
    argv += ["--workers", "1", "--resolution", "32", "--batches", "3", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result
    assert set(result["images_per_s"]) == {"shards", "image_folder", "decode_only"}
    assert all(rate > 0 for rate in result["images_per_s"].values())


def test_bench_data_without_shards_is_a_usage_error(tmp_path, capsys):
    assert main(["bench", "data", "--data", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


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
