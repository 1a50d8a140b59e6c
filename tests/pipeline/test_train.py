"""`ladder train`: real training on real shards, tracked in a real MLflow store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch

from lightning_modules.specs import resolve_model
from pipeline.cli import main
from pipeline.training.train import TrainRequest, validate


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def only_run(uri: str, experiment: str = "train") -> mlflow.entities.Run:
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1
    return runs[0]


def steps_in(checkpoint: Path) -> int:
    """Optimizer steps recorded in a Lightning checkpoint."""
    return torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]


@pytest.mark.slow
def test_lenet5_learns_the_digits(digits_shards: Path, tmp_path: Path, store: str, capsys):
    argv = ["train", "--arch", "lenet5", "--data", str(digits_shards), "--out", str(tmp_path)]
    flags = ["--epochs", "8", "--batch-size", "32", "--optimizer", "adamw", "--lr", "0.003"]
    flags += ["--min-crop", "0.6", "--hflip", "0", "--loader-workers", "1"]
    assert main(argv + flags) == 0
    run = only_run(store)
    assert run.data.params["arch"] == "lenet5" and run.data.params["resolution"] == "32"
    assert run.data.params["in_chans"] == "1"  # the digits are grayscale
    assert run.data.metrics["model/params"] == pytest.approx(61_706, rel=0.01)
    assert 300_000 < run.data.metrics["model/macs"] < 500_000  # LeNet-5: ~0.4 M MACs
    for measured in ("model/infer_images_per_sec", "model/latency_ms"):
        assert run.data.metrics[measured] > 0, measured  # measured after the last epoch
    # the run's own peak above its start, whatever this test process held before
    assert 0 < run.data.metrics["model/peak_memory_mb"] < 2000
    assert run.data.metrics["val/acc1"] >= 0.95
    history = mlflow.MlflowClient(store).get_metric_history(run.info.run_id, "val/acc1")
    assert len(history) == 8  # one value per epoch


@pytest.mark.slow
def test_resnet_trains_and_resume_continues_the_epoch_count(
    imagenet_shards: Path, tmp_path: Path, store: str
):
    argv = ["train", "--arch", "resnet18", "--data", str(imagenet_shards), "--out", str(tmp_path)]
    # lr 0.005: at the default 0.05 ResNet18 on these 60 noise images reaches a train loss
    # of 11.5 in epoch 2 (10x a uniform guess), which now ends the run as diverged (exit 3)
    flags = ["--resolution", "32", "--batch-size", "8", "--loader-workers", "2", "--lr", "0.005"]
    assert main([*argv, *flags, "--epochs", "1"]) == 0
    (run_dir,) = tmp_path.glob("resnet18-*")
    last = run_dir / "checkpoints" / "last.ckpt"
    assert steps_in(last) == 60 // 8  # 60 train samples, full batches only
    assert main([*argv, *flags, "--epochs", "2", "--resume", str(last)]) == 0
    assert steps_in(last) == 2 * (60 // 8)  # one more epoch on top, not restarted from 0
    run = only_run(store)  # the resumed run continued the same MLflow run
    history = mlflow.MlflowClient(store).get_metric_history(run.info.run_id, "val/acc1")
    assert len(history) == 2


def test_data_folder_without_manifest_says_so(tmp_path: Path, store: str, capsys):
    assert main(["train", "--arch", "lenet5", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "manifest.json" in err and str(tmp_path) in err


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--arch", "nosuch"], "valid: lenet5"),
        (["--arch", "resnet50", "--resolution", "8"], "minimum is 32"),
        (["--arch", "resnet50", "--width", "2"], "width"),
        (["--arch", "lenet5", "--epochs", "0"], "--epochs 0: expected >= 1"),
        (["--arch", "lenet5", "--resume", "nowhere.ckpt"], "no such checkpoint"),
        (["--arch", "lenet5", "--lr", "-3"], "--lr -3.0: expected > 0"),
        (["--arch", "lenet5", "--lr", "0"], "--lr 0.0: expected > 0"),
        (["--arch", "lenet5", "--lr", "1e400"], "--lr inf: expected a finite number"),
        (["--arch", "lenet5", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
        (
            ["--arch", "lenet5", "--weight-decay", "-0.0001"],
            "--weight-decay -0.0001: expected >= 0",
        ),
        (["--arch", "lenet5", "--momentum", "1"], "--momentum 1.0: expected in [0, 1)"),
        (
            ["--arch", "lenet5", "--label-smoothing", "nan"],
            "--label-smoothing nan: expected a finite",
        ),
        (["--arch", "lenet5", "--decay-rate", "0"], "--decay-rate 0.0: expected in (0, 1]"),
        (["--arch", "lenet5", "--min-crop", "0"], "--min-crop 0.0: expected in (0, 1]"),
        (["--arch", "lenet5", "--hflip", "1.5"], "--hflip 1.5: expected in [0, 1]"),
        (["--arch", "lenet5", "--batch-size", "-64"], "--batch-size -64: expected >= 1"),
        (["--arch", "lenet5", "--epochs", "2.5"], "--epochs: expected an integer, got '2.5'"),
        (["--arch", "lenet5", "--seed", str(2**40)], f"--seed {2**40}: expected in [0, 2**32)"),
        (["--arch", "lenet5", "--loader-workers", "-1"], "--loader-workers -1: expected >= 0"),
        (["--arch", "lenet5", "--resolution", "100000"], "resolution 100000 is too large"),
        (["--arch", "lenet5", "--resolution", "0"], "resolution 0 is too small"),
        (["--arch", "lenet5", "--resolution", "-32"], "resolution -32 is too small"),
        (["--arch", "lenet5", "--resolution", "big"], "--resolution: invalid int value: 'big'"),
        (["--arch", "lenet5", "--data-typo", "x"], "unrecognized arguments: --data-typo x"),
        (["--arch", "lenet5", "--recipe", "nofile.yaml"], "--recipe nofile.yaml: nofile"),
        (["--arch", "timm:no_such_net"], "unknown timm model 'no_such_net'"),
    ],
)
def test_bad_input_is_one_line(digits_shards, store, capsys, flags, expected):
    assert main(["train", "--data", str(digits_shards), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err


@pytest.mark.slow
def test_two_process_ddp_run_is_one_run(digits_shards: Path, tmp_path: Path, store: str):
    """Lightning re-launches `ladder train` for rank 1: both ranks must share one run."""
    argv = [sys.executable, "-m", "pipeline", "train", "--arch", "lenet5"]
    argv += ["--data", str(digits_shards), "--out", str(tmp_path), "--epochs", "1"]
    argv += ["--devices", "2", "--loader-workers", "1", "--batch-size", "32"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    subprocess.run(argv, check=True, env=env, cwd=tmp_path, timeout=600, capture_output=True)
    (run_dir,) = tmp_path.glob("lenet5-*")
    run = only_run(store)
    assert json.loads((run_dir / "mlflow_run.json").read_text())["run_id"] == run.info.run_id
    # 1437 digits over 2 ranks in full batches of 32: 22 steps each, in lockstep
    assert steps_in(run_dir / "checkpoints" / "last.ckpt") == 1437 // 2 // 32


def test_a_resolution_above_the_shards_max_size_warns_once(digits_shards, capsys):
    validate(TrainRequest(digits_shards, resolve_model("lenet5", 300)))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "upsampled" in err[0] and "--max-size 300" in err[0]
    validate(TrainRequest(digits_shards, resolve_model("lenet5", 32)))
    assert capsys.readouterr().err == ""


def damaged_copy(digits_shards: Path, tmp_path: Path) -> tuple[Path, Path, int]:
    """The digits shards copied, their first train shard cut to half its size:
    (folder, that shard, its size in the manifest)."""
    folder = tmp_path / "shards"
    shutil.copytree(digits_shards, folder)
    record = json.loads((folder / "manifest.json").read_text())["shards"]["train"][0]
    shard = folder / record["name"]
    shard.write_bytes(shard.read_bytes()[: record["size"] // 2])
    return folder, shard, record["size"]


def test_a_shard_cut_short_is_named_before_training(digits_shards, tmp_path, store, capsys):
    folder, shard, size = damaged_copy(digits_shards, tmp_path)
    argv = ["train", "--arch", "lenet5", "--data", str(folder), "--out", str(tmp_path)]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"{shard}: {size // 2} bytes, the manifest says {size}" in line
    assert "--allow-damaged-shards" in line
    shard.unlink()
    assert main(argv) == 2
    assert f"{shard}: missing" in capsys.readouterr().err
    assert not list(tmp_path.glob("lenet5-*"))  # nothing trained


@pytest.mark.slow
def test_damaged_shards_allowed_train_and_say_what_each_epoch_saw(
    digits_shards, tmp_path, store, capsys
):
    folder, shard, _ = damaged_copy(digits_shards, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    whole = manifest["counts"]["train"] - manifest["shards"]["train"][0]["count"]
    argv = ["train", "--arch", "lenet5", "--data", str(folder), "--out", str(tmp_path)]
    flags = ["--epochs", "2", "--loader-workers", "1", "--allow-damaged-shards"]
    assert main(argv + flags) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "samples readable" in line]
    assert len(lines) == 2 and lines[0].startswith("epoch 1 (--allow-damaged-shards): ")
    readable = int(lines[0].split(": ")[1].split()[0])
    assert whole < readable < manifest["counts"]["train"]  # half the cut shard is still read
    assert lines[1].endswith(
        f"{manifest['counts']['val']} of {manifest['counts']['val']} val samples seen"
    )


@pytest.mark.slow
def test_a_diverging_run_ends_early_and_says_so(digits_shards, tmp_path, store, capsys):
    argv = ["train", "--arch", "lenet5", "--data", str(digits_shards), "--out", str(tmp_path)]
    flags = ["--epochs", "4", "--loader-workers", "1", "--warmup-epochs", "0"]
    assert main([*argv, *flags, "--lr", "10000"]) == 3
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "diverged" in line]
    assert line.startswith("ladder train: diverged at epoch 1: ") and "train/loss" in line
    run = only_run(store)
    assert run.data.metrics["diverged"] == 1
    history = mlflow.MlflowClient(store).get_metric_history(run.info.run_id, "val/acc1")
    assert len(history) == 1  # stopped after the first of 4 epochs
    assert main([*argv, *flags, "--epochs", "1", "--experiment", "sane"]) == 0
    assert "diverged" not in capsys.readouterr().err
    assert "diverged" not in only_run(store, "sane").data.metrics
