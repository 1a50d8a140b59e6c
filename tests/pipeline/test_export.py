"""`ladder export` and `ladder evaluate` end to end: a real sweep, real MLflow, real files.

One sweep per module (`ladder sweep` as a subprocess, its own local Ray and sqlite store):
LeNet-5 (cnn-ladder's builder) and EfficientNet-B0 (timm's) at 32 px on the digits,
2 epochs of the `demo` recipe with an EMA of the weights (validation scores the EMA, so
only an export of the EMA reproduces the top-1), and `--register-best`. About 3 minutes
on a 2-core box; every test reads it. The bad-input tests that need no weights log a
sweep with `SweepTracker` only (conftest's `sweep_logger`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from pipeline.cli import main
from tests.pipeline.conftest import private_ray_tmpdir, stop_ray_processes
from tests.pipeline.sweeps import sweep, sweep_env

SWEEP, MODEL = "winners", "digits-winner"
EFFICIENTNET, LENET = "efficientnet_b0_r32", "lenet5_r32"
PERCENT = re.compile(r"top-1 (\d+\.\d+)%")


@dataclass(frozen=True)
class Sweep:
    uri: str
    storage: Path
    data: Path


@pytest.fixture(scope="module")
def trained(digits_shards, empty_store_file, tmp_path_factory) -> Sweep:
    folder = tmp_path_factory.mktemp("export_sweep")
    shutil.copy(empty_store_file, folder / "mlflow.db")
    uri, storage = f"sqlite:///{folder / 'mlflow.db'}", folder / "sweeps"
    args = ["--space", "ladder", "--set", "archs=lenet5,efficientnet_b0", "--set",
            "resolution=32", "--recipe", "demo", "--set", "ema_decay=0.9", "--epochs", "2",
            "--data", str(digits_shards), "--name", SWEEP, "--storage", str(storage),
            "--register-best", MODEL]  # fmt: skip
    ray_tmpdir = private_ray_tmpdir()
    env = sweep_env(MLFLOW_TRACKING_URI=uri, RAY_TMPDIR=ray_tmpdir)
    env.pop("RAY_ADDRESS", None)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(folder)  # the sqlite store's artifacts go to ./mlruns
            sweep(args, env, folder / "sweep.log")
    finally:
        stop_ray_processes(ray_tmpdir)
        shutil.rmtree(ray_tmpdir, ignore_errors=True)
    return Sweep(uri, storage, digits_shards)


@pytest.fixture
def winners(trained: Sweep, monkeypatch, tmp_path) -> Sweep:
    """The module's sweep, its store named by MLFLOW_TRACKING_URI, in this test's folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained.uri)
    return trained


def leaderboard(capsys) -> list[dict]:
    assert main(["leaderboard", "--experiment", SWEEP, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def export(winners: Sweep, out: Path, *which: str) -> dict:
    argv = ["export", *which, "--sweep", SWEEP, "--storage", str(winners.storage)]
    assert main([*argv, "--out", str(out)]) == 0
    return json.loads((out / "config.json").read_text())


def evaluated_top1(model: str, winners: Sweep, out: Path, capsys) -> float:
    """`ladder evaluate`'s printed top-1, in percent."""
    argv = ["evaluate", model, "--data", str(winners.data), "--out", str(out), "--workers", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "images/s:" in printed and (out / "confusion_matrix.png").stat().st_size > 0
    return float(PERCENT.search(printed).group(1))


def one_error_line(capsys, command: str) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ladder {command}: error:"), lines
    return lines[0]


# ------------------------------------------------------------------ the winner, reproduced


@pytest.mark.slow
@pytest.mark.scenario  # the module's sweep: `make test-scenarios`, CI
def test_export_best_then_evaluate_reproduces_the_leaderboards_top1(winners, tmp_path, capsys):
    best = leaderboard(capsys)[0]
    config = export(winners, tmp_path / "best", "--best")
    source = config["ladder"]["source"]
    assert (source["trial"], source["epoch"]) == (best["trial"], best["best_epoch"])
    assert config["ladder"]["weights"] == "ema" and config["label_names"] == list("0123456789")
    assert config["pretrained_cfg"]["input_size"] == [1, 32, 32]

    top1 = evaluated_top1(str(tmp_path / "best"), winners, tmp_path / "eval", capsys)
    assert abs(top1 - 100 * best["top1"]) <= 0.1, (top1, best)

    from mlflow import MlflowClient

    client = MlflowClient(winners.uri)
    experiment = client.get_experiment_by_name(SWEEP)
    (run,) = client.search_runs([experiment.experiment_id], "tags.`ladder.role` = 'evaluation'")
    assert run.data.tags["mlflow.parentRunId"] == best["run_id"]  # under the trial's run
    assert run.data.metrics["eval/acc1"] == pytest.approx(best["top1"], abs=1e-3)
    logged = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert logged == {"confusion_matrix.png", "per_class.txt"}


@pytest.mark.slow
@pytest.mark.scenario  # the module's sweep: `make test-scenarios`, CI
def test_plain_timm_loads_the_exported_efficientnet_with_the_logits_validation_scored(
    winners, tmp_path
):
    import timm

    from lightning_modules.data import ShardDataModule
    from lightning_modules.exported import eval_settings, trained_classifier
    from pipeline.models.winner import best_checkpoint, find_trial, load_checkpoint
    from pipeline.report.leaderboard import resolve_experiment
    from pipeline.tracking.schema import open_client

    out = tmp_path / "effnet"
    config = export(winners, out, EFFICIENTNET)
    assert config["ladder"]["builder"] == "timm" and config["architecture"] == "efficientnet_b0"
    plain = timm.create_model(
        config["architecture"],
        pretrained=True,
        pretrained_cfg_overlay=dict(config["pretrained_cfg"], file=str(out / "model.safetensors")),
        **config["model_args"],
    ).eval()
    from_folder = timm.create_model(f"local-dir:{out}", pretrained=True).eval()

    client = open_client(winners.uri)
    run = find_trial(client, resolve_experiment(client, SWEEP), EFFICIENTNET)
    checkpoint, _ = best_checkpoint(run, str(winners.storage))
    classifier = trained_classifier(load_checkpoint(checkpoint, run, tmp_path / "checkpoint"))
    scored = classifier.evaluated()[""]  # the EMA: what validation scored
    data = ShardDataModule(winners.data, batch_size=64, loader_workers=0, augment=False,
                           **eval_settings(config))  # fmt: skip
    images, _ = next(iter(data.val_dataloader()))
    images = data.normalize(images)
    with torch.no_grad():
        expected = scored(images)
        assert torch.equal(plain(images), expected)
        assert torch.equal(from_folder(images), expected)
        assert not torch.equal(classifier.model(images), expected)  # raw weights differ
    assert timm.data.resolve_data_config(model=plain)["crop_pct"] == 0.875


@pytest.mark.slow
@pytest.mark.scenario  # the module's sweep: `make test-scenarios`, CI
def test_plain_timm_with_its_own_reader_and_transform_gives_the_leaderboards_top1(
    winners, tmp_path, capsys
):
    """A model taken home, scored the way timm's users score: `local-dir:`, timm's webdataset
    reader over the shards' `_info.json`, the transform its data config resolves to."""
    import timm
    from timm.data import create_dataset, create_transform, resolve_data_config

    row = next(row for row in leaderboard(capsys) if row["trial"] == EFFICIENTNET)
    export(winners, tmp_path / "effnet", EFFICIENTNET)
    model = timm.create_model(f"local-dir:{tmp_path / 'effnet'}", pretrained=True).eval()
    transform = create_transform(**resolve_data_config(model=model))
    dataset = create_dataset("wds/digits", root=str(winners.data), split="validation",
                             input_img_mode="L", transform=transform)  # fmt: skip
    loader = torch.utils.data.DataLoader(dataset, batch_size=64)
    right = seen = 0
    with torch.no_grad():
        for images, labels in loader:
            right += int((model(images).argmax(1) == labels).sum())
            seen += len(labels)
    assert seen == 360
    assert right == round(row["top1"] * seen), (right, seen, row["top1"])  # to the image


@pytest.mark.slow
@pytest.mark.scenario  # the module's sweep: `make test-scenarios`, CI
def test_the_sweep_registered_its_best_as_champion_and_the_alias_evaluates(
    winners, tmp_path, capsys, monkeypatch
):
    from mlflow import MlflowClient

    best = leaderboard(capsys)[0]
    client = MlflowClient(winners.uri)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.run_id == best["run_id"]  # the trial's run links to the version
    top1 = evaluated_top1(f"models:/{MODEL}@champion", winners, tmp_path / "eval", capsys)
    assert abs(top1 - 100 * best["top1"]) <= 0.1

    other = EFFICIENTNET if best["trial"] == LENET else LENET
    export(winners, tmp_path / "other", other, "--register", MODEL)
    assert "(not champion" in capsys.readouterr().out
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 2
    assert client.get_model_version_by_alias(MODEL, "champion").version == champion.version
    import mlflow  # registering in-process left MLflow's global URI as it found it

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'next.db'}")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'next.db'}"


# ------------------------------------------------------------------ bad input: one line, exit 2


@pytest.mark.slow
@pytest.mark.scenario  # the module's sweep: `make test-scenarios`, CI
def test_a_checkpoint_of_another_architecture_is_one_line(winners, tmp_path, capsys):
    """A storage whose checkpoints are not the trials' (here: two trials' folders swapped)."""
    storage = tmp_path / "sweeps"
    shutil.copytree(winners.storage, storage)
    lenet_run, effnet_run = (
        next((storage / SWEEP).glob(f"*_{trial_id(winners, name)}"))
        for name in (LENET, EFFICIENTNET)
    )
    lenet_run.rename(tmp_path / "swap")
    effnet_run.rename(lenet_run)
    (tmp_path / "swap").rename(effnet_run)
    argv = ["export", EFFICIENTNET, "--sweep", SWEEP, "--storage", str(storage)]

    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    line = one_error_line(capsys, "export")
    assert "arch=lenet5" in line and "arch=efficientnet_b0" in line, line
    assert not (tmp_path / "out").exists()


def trial_id(winners: Sweep, name: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(winners.uri)
    experiment = client.get_experiment_by_name(SWEEP)
    (run,) = client.search_runs([experiment.experiment_id], f"attributes.run_name = '{name}'")
    return run.data.tags["ladder.trial_id"]


@pytest.mark.slow
@pytest.mark.scenario  # the module's sweep: `make test-scenarios`, CI
def test_a_model_whose_classes_differ_from_the_shards_is_one_line(
    winners, imagenet_shards, tmp_path, capsys
):
    export(winners, tmp_path / "lenet", LENET)
    argv = ["evaluate", str(tmp_path / "lenet"), "--data", str(imagenet_shards)]

    assert main([*argv, "--out", str(tmp_path / "eval")]) == 2
    line = one_error_line(capsys, "evaluate")
    assert "10 classes" in line and "hold 3" in line, line


def test_an_unknown_trial_is_one_line(store, sweep_logger, tmp_path, capsys):
    sweep_logger(store, sweep="sweep-a")
    argv = ["export", "nosuch", "--sweep", "sweep-a", "--out", str(tmp_path / "out")]

    assert main(argv) == 2
    line = one_error_line(capsys, "export")
    assert "'nosuch'" in line and "lenet5_r32" in line and "resnet18_r32" in line, line


def test_a_sweep_without_finished_trials_is_one_line(store, sweep_logger, tmp_path, capsys):
    sweep_logger(store, sweep="midway", epochs=1)  # every trial still running
    argv = ["export", "--best", "--sweep", "midway", "--out", str(tmp_path / "out")]

    assert main(argv) == 2
    assert "no finished trial" in one_error_line(capsys, "export")


def test_a_trial_and_best_together_or_neither_is_one_line(tmp_path, capsys):
    for which in (["--best", "lenet5_r32"], []):
        assert main(["export", *which, "--out", str(tmp_path)]) == 2
        assert "--best" in one_error_line(capsys, "export")


def test_an_export_folder_without_its_files_is_one_line(digits_shards, tmp_path, capsys):
    argv = ["evaluate", str(tmp_path), "--data", str(digits_shards)]

    assert main(argv) == 2
    assert "no config.json" in one_error_line(capsys, "evaluate")


@pytest.mark.parametrize("command", ["export", "evaluate"])
def test_help_imports_no_torch(command):
    """The commands' modules are imported for `--help`: they must not pay for torch."""
    script = (
        "import sys\nfrom pipeline.cli import main\ntry:\n"
        f"    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'mlflow' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--out" in done.stdout
