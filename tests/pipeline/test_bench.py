"""`ladder bench data` and `ladder bench model`: real loaders and real models, JSON out."""

from __future__ import annotations

import json
import shutil

import pytest
from mlflow import MlflowClient

from lightning_modules.errors import InputError
from pipeline.cli import main
from tests.pipeline.conftest import MlflowProcess, private_ray_tmpdir, stop_ray_processes
from tests.pipeline.sweeps import sweep_env

TRACKING_CURVES = ("ladder leaderboard", "leaderboard_rows", "ladder chart", "ui trials page")
FAST = ["--batch-size", "4", "--loader-workers", "1", "--batches", "2", "--rounds", "2"]


@pytest.mark.slow
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


def test_the_benchmarks_take_typed_requests_as_a_notebook_calls_them():
    """The libraries take no flags: the command's calls work from Python as they are."""
    from pipeline.bench.model_speed import ModelBench, bench_model
    from pipeline.bench.rank_split import bench_rank_split, setup_of
    from pipeline.bench.scale import ScaleRequest, bench_scale

    report = bench_model(ModelBench(archs=("lenet5",), resolution=32, batch_size=2, steps=1))
    assert [model["arch"] for model in report["models"]] == ["lenet5"]
    setup = setup_of(shards=4, val_shards=2, per_shard=3, ranks="1,2", workers=1, batch_size=2)
    split = bench_rank_split(setup)
    assert all(split["ranks"][n][part]["ok"] for n in ("1", "2") for part in ("train", "val"))
    with pytest.raises(InputError, match="--rounds 0: expected >= 1"):
        bench_scale(ScaleRequest(benchmark="tracking", sizes=(4,), rounds=0))


# ---- how costs grow with scale (pipeline/bench/scale.py): real stores, real commands


@pytest.mark.slow
@pytest.mark.scenario  # generated stores, real commands: `make test-scenarios`
def test_bench_tracking_times_the_leaderboard_and_keeps_its_stores(tmp_path, capsys):
    out, store = tmp_path / "scale" / "tracking.json", tmp_path / "stores"
    argv = ["bench", "tracking", "--runs", "4,8", "--rounds", "1", "--store", str(store)]
    assert main([*argv, "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result and out.with_suffix(".png").stat().st_size > 0
    assert set(result["curves"]) == set(TRACKING_CURVES) and result["store"] == "sqlite"
    for curve in result["curves"].values():
        assert set(curve["seconds"]) == {"4", "8"} and all(t > 0 for t in curve["seconds"].values())
        assert isinstance(curve["loglog_slope"], float)
    assert all(seconds > 0 for seconds in result["generate_seconds"].values())
    assert main([*argv]) == 0  # the stores are reused, not written again
    assert json.loads(capsys.readouterr().out)["generate_seconds"] == {"4": None, "8": None}


@pytest.mark.slow
@pytest.mark.scenario  # generated stores, real commands: `make test-scenarios`
def test_bench_tracking_measures_a_servers_store_over_http(tmp_path, capsys):
    """`--tracking-uri`: the sweep is written through the server once and read back
    through it, as a team's clients do (`ladder server` serves PostgreSQL the same way)."""
    server = MlflowProcess(tmp_path)
    server.start()
    try:
        argv = ["bench", "tracking", "--runs", "6", "--rounds", "1", "--tracking-uri", server.url]
        assert main(argv) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["store"] == f"server {server.url}" and set(result["curves"]) == set(
            TRACKING_CURVES
        )
        assert result["generate_seconds"]["6"] > 0
        runs = MlflowClient(tracking_uri=server.url).search_runs(
            [MlflowClient(tracking_uri=server.url).get_experiment_by_name("load-6").experiment_id]
        )
        assert len(runs) == 7  # the parent and 6 trials, on the server
        assert main(argv) == 0  # the server's sweep is reused
        assert json.loads(capsys.readouterr().out)["generate_seconds"] == {"6": None}
    finally:
        server.kill()


@pytest.mark.slow
@pytest.mark.scenario  # generated stores, real commands: `make test-scenarios`
def test_bench_sync_sends_a_whole_generated_journal(tmp_path, capsys):
    """30 records: the sweep's start and end, and 5 trials of 3 epochs; synced into the
    store at `--tracking-uri`, where the sweep is then whole and closed, its charts logged."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["bench", "sync", "--records", "30", "--tracking-uri", uri]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trials"] == {"30": 5} and result["curves"]["ladder sync"]["seconds"]["30"] > 0
    client = MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name.startswith("sync-30-")]
    runs = client.search_runs([experiment.experiment_id])
    roles = sorted(run.data.tags["ladder.role"] for run in runs)
    assert roles == ["sweep"] + ["trial"] * 5
    assert all(run.info.status == "FINISHED" for run in runs)
    assert all(len(client.get_metric_history(run.info.run_id, "val/acc1")) == 3
               for run in runs if run.data.tags["ladder.role"] == "trial")  # fmt: skip
    (parent,) = [run for run in runs if run.data.tags["ladder.role"] == "sweep"]
    assert "charts" in {artifact.path for artifact in client.list_artifacts(parent.info.run_id)}


@pytest.mark.slow
def test_bench_shards_rerun_times_the_rerun_with_and_without_verify(capsys):
    argv = ["bench", "shards-rerun", "--shards", "2,3", "--per-shard", "2", "--rounds", "1"]
    assert main(argv) == 0
    curves = json.loads(capsys.readouterr().out)["curves"]
    assert set(curves) == {"rerun", "rerun --verify", "first write"}
    assert all(set(curve["seconds"]) == {"2", "3"} for curve in curves.values())


@pytest.mark.slow
def test_bench_shards_reports_time_memory_and_disk_per_size(tmp_path, capsys):
    out = tmp_path / "shards.json"
    argv = ["bench", "shards", "--images", "60,20", "--per-shard", "10", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result and out.with_suffix(".png").stat().st_size > 0
    assert set(result["curves"]["ladder shards"]["seconds"]) == {"20", "60"}
    assert all(seconds > 0 for seconds in result["curves"]["ladder shards"]["seconds"].values())
    assert all(100 < mb < 4096 for mb in result["peak_memory_mb"].values())  # a Python, PIL
    disk = result["disk_bytes"]  # 2 and 6 shards of tiny PNGs (~1.5 kB each in a tar)
    assert 20 * 200 < disk["20"] < disk["60"] < 60 * 4096


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tracking", "--runs", "100,x"], "--runs '100,x': expected counts >= 1"),
        (["shards-rerun", "--shards", "0"], "--shards '0': expected counts >= 1"),
        (["shards-rerun", "--per-shard", "0"], "--per-shard 0: expected >= 1"),
        (["shards", "--images", "0,100"], "--images '0,100': expected counts >= 1"),
        (["sync", "--records", "-10"], "--records '-10': expected counts >= 1"),
        (["sync", "--tracking-uri", "http://127.0.0.1:1"], "http://127.0.0.1:1 is unreachable"),
        (["tracking", "--tracking-uri", "http://127.0.0.1:1"], "http://127.0.0.1:1 is unreachable"),
        (["sync", "--records", ""], "--records '': expected counts >= 1"),
        (["shards", "--images", "1e6"], "--images '1e6': expected counts >= 1"),
        (["shards", "--per-shard", "-1"], "--per-shard -1: expected >= 1"),
        (["sweep", "--trials", "0"], "--trials '0': expected counts >= 1"),
        (["sweep", "--trials", "-8"], "--trials '-8': expected counts >= 1"),
        (["sweep", "--trials", "8,x"], "--trials '8,x': expected counts >= 1"),
        (["sweep", "--asha-trials", "-4"], "--asha-trials -4: expected 0 or a multiple of 4"),
        (["sweep", "--asha-trials", "6"], "--asha-trials 6: expected 0 or a multiple of 4"),
        (["charts", "--trials", "0,4"], "--trials '0,4': expected counts >= 1"),
        (["charts", "--trials", "many"], "--trials 'many': expected counts >= 1"),
    ],
)
def test_bench_scale_usage_errors(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bench_charts_times_and_draws_every_chart_from_generated_trials(tmp_path, capsys):
    out = tmp_path / "charts.json"
    assert main(["bench", "charts", "--trials", "1,4", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    charts = set(result["curves"])
    assert charts == {"imagenet_challenge", "accuracy_vs_macs", "accuracy_vs_throughput",
                      "scaling", "balance", "reference"}  # fmt: skip
    assert all(set(curve["seconds"]) == {"1", "4"} for curve in result["curves"].values())
    drawn = {path.name for path in tmp_path.glob("*_4_trials.png")}
    assert drawn == {f"{name}_4_trials.png" for name in charts}


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
    slot_seconds = {n: point["per_trial_s"] * int(n) for n, point in result["points"].items()}
    assert slot_seconds["3"] > slot_seconds["1"]  # (walls: the start-up's noise hides it)
    asha = result["asha"]  # every trial ran, and ASHA ended some at a rung: epoch 1 or 2
    assert (asha["trials"], asha["never_ran"]) == (8, 0)
    assert asha["finished"] >= 1 and asha["stopped_early"] >= 1
    assert asha["finished"] + asha["stopped_early"] == 8
    assert asha["epochs_trained"] < 8 * asha["max_epochs"]
    assert 1 <= asha["max_running"] <= result["slots"] and 0 < asha["slots_busy"] <= 1


def test_the_sweep_breakdown_adds_up_when_a_few_trials_start_actors():
    """3 trials on 2 slots: two pay a fresh actor's imports (5 s), one reuses an actor
    (2 s). The time in the trial and between trials add up to a slot's time per trial,
    which a median of the trial times (5 s) would not: it leaves out the cheap one."""
    from pipeline.bench.sweep_scale import TRAIN_EPOCH_TIME, breakdown

    def trial(begin, seconds):
        return [{"timestamp": begin + seconds, "time_total_s": seconds, TRAIN_EPOCH_TIME: 1.0}]

    trials = [trial(100, 5.0), trial(100, 5.0), trial(105, 2.0)]
    point = breakdown(trials, start=80, end=110, count=3, slots=2, peak_kb=1024 * 900)
    assert (point["sweep_startup_s"], point["sweep_end_s"], point["wall_s"]) == (20, 3, 30)
    assert point["per_trial_s"] == pytest.approx(14 / 3, abs=0.01)  # 7 s on each slot
    assert point["in_trial_s"] == pytest.approx(4.0) and point["training_s"] == 1.0
    assert point["between_trials_s"] == pytest.approx(2 / 3, abs=0.01)
    assert point["driver_peak_mb"] == 900
