"""`ladder bench data`: real loaders over real shards, JSON out."""

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
