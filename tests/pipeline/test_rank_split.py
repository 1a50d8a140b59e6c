"""`ladder bench rank-split`: the data module's own split of shards among ranks x workers."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pipeline.cli import main


def rank_split(capsys, *flags: str) -> dict:
    assert main(["bench", "rank-split", *flags]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_1000_shards_over_8_64_512_ranks_give_every_rank_data_and_equal_batches(tmp_path, capsys):
    out = tmp_path / "scale" / "rank_split.json"
    # ImageNet-like train (1,000 shards x 1,250); a small val keeps the test short
    result = rank_split(capsys, "--val-shards", "4", "--out", str(out))
    assert json.loads(out.read_text()) == result and out.with_suffix(".png").stat().st_size > 0
    assert result["samples"] == {"train": 1_250_000, "val": 5_000}
    assert set(result["ranks"]) == {"8", "64", "512"}
    expected = {  # ranks: (batches per rank, {samples owned: ranks}, worker split)
        "8": (610, {156_250: 8}, "shard"),
        "64": (76, {20_000: 40, 18_750: 24}, "shard"),  # 1,000 = 64 x 15 + 40
        "512": (9, {2_500: 488, 1_250: 24}, "sample"),  # 1 shard per rank < 4 workers
    }
    for ranks, (batches, samples, workers) in expected.items():
        train = result["ranks"][ranks]["train"]
        assert train["split"] == {"ranks": "shard", "workers": workers}
        assert train["per_rank"]["batches"] == [batches] * int(ranks)
        assert Counter(train["per_rank"]["samples"]) == samples
        assert train["equal_batches"] and train["batches_per_rank"] == {
            "min": batches,
            "max": batches,
        }
        assert train["ranks_without_data"] == 0 and train["readers_without_data"] == 0
        assert train["samples_unowned"] == 0 and train["samples_owned_twice"] == 0
        assert train["ok"] and train["plan_seconds"]["total"] > 0
        val = result["ranks"][ranks]["val"]
        assert val["split"]["ranks"] == "sample" and val["ok"] and val["samples_dropped"] == 0
        assert val["samples_per_rank"]["max"] - val["samples_per_rank"]["min"] <= 1
    # a rank owning one shard of 1,250 yields 9 x 256 samples: each about 1.84 times an epoch
    assert result["ranks"]["512"]["train"]["epoch_passes"]["ranks"] == {"min": 0.922, "max": 1.843}


@pytest.mark.parametrize(("workers", "worker_split"), [("4", "shard"), ("8", "sample")])
def test_fewer_shards_than_ranks_split_by_sample_and_leave_no_rank_without_data(
    workers, worker_split, capsys
):
    result = rank_split(capsys, "--shards", "4", "--val-shards", "4", "--ranks", "8",
                        "--workers", workers)  # fmt: skip
    for split in ("train", "val"):
        plan = result["ranks"]["8"][split]
        assert plan["split"] == {"ranks": "sample", "workers": worker_split}
        assert plan["per_rank"]["samples"] == [625] * 8  # 4 x 1,250 over 8 ranks
        assert plan["ranks_without_data"] == 0 and plan["readers_without_data"] == 0
        assert plan["samples_unowned"] == 0 and plan["samples_owned_twice"] == 0
        assert plan["equal_batches"] and plan["ok"]
    assert result["ranks"]["8"]["train"]["per_rank"]["batches"] == [2] * 8  # 625 // 256
    assert result["ranks"]["8"]["val"]["per_rank"]["batches"] == [3] * 8  # ceil(625 / 256)


def test_too_few_samples_for_the_ranks_is_reported_not_ok(capsys):
    """10 samples over 16 ranks: 6 ranks own none, and the rule gives 0 batches (the
    loader refuses such a run); the benchmark says so instead of passing it."""
    result = rank_split(capsys, "--shards", "1", "--val-shards", "1", "--per-shard", "10",
                        "--ranks", "16", "--workers", "2", "--batch-size", "4")  # fmt: skip
    train = result["ranks"]["16"]["train"]
    assert train["ranks_without_data"] == 6 and train["readers_without_data"] == 22
    assert train["per_rank"]["samples"] == [1] * 10 + [0] * 6
    assert train["batches_per_rank"] == {"min": 0, "max": 0} and not train["ok"]


BIG = {"--shards": "100001", "--val-shards": "100001", "--per-shard": "100001",
       "--ranks": "8,4097", "--workers": "65", "--batch-size": "65537"}  # fmt: skip


@pytest.mark.parametrize("flag", sorted(BIG))
@pytest.mark.parametrize("value", ["0", "-3", "2.5", "x", "big"])
def test_bad_values_of_each_flag_are_one_line_naming_it_and_exit_2(flag, value, capsys):
    value = BIG[flag] if value == "big" else value
    assert main(["bench", "rank-split", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ladder bench: error: ")
    assert flag in err and value in err
    if flag != "--ranks" and value.lstrip("-").isdigit():  # argparse names the others
        assert "expected a whole number from 1 to" in err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--ranks", ""], "--ranks '': expected rank counts from 1 to 4,096 like 8,64,512"),
        (["--ranks", "8,,64"], "--ranks '8,,64': expected rank counts"),
        (["--shards", "10000", "--per-shard", "2000"],
         "--shards 10000 x --per-shard 2000: 20,000,000 train samples; expected at most"),
        (["--val-shards", "5000", "--per-shard", "2001"],
         "--val-shards 5000 x --per-shard 2001: 10,005,000 val samples; expected at most"),
        (["--ranks", "4096", "--workers", "64"],
         "--ranks 4096 x --workers 64 over 1,000 + 40 shards of 1,250: about"),
    ],
)  # fmt: skip
def test_bad_combinations_are_one_line_and_exit_2(flags, message, capsys):
    assert main(["bench", "rank-split", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
