"""`ladder leaderboard`: rows are what MLflow holds, ranked by top-1, Pareto-marked; the
same through a real tracking server; every user error is one line and exit 2."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from mlflow import MlflowClient

from pipeline.cli import main
from pipeline.report.leaderboard import leaderboard_rows, pareto_front, write_leaderboard
from tests.pipeline.conftest import MEASURED, MEASURED_TRIALS, SEEDED_TRIALS, free_port


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["leaderboard", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_rows_are_what_mlflow_holds(store, sweep_logger, trials):
    sweep_logger(store)
    client = MlflowClient(store)
    rows = leaderboard_rows(client, "sweep-a")

    assert [row.trial for row in rows] == [
        "efficientnet_phi1", "resnet18_r32", "vgg16_r32", "lenet5_r32"
    ]  # fmt: skip
    by_name = {trial.name: trial for trial in trials}
    for row in rows:
        run = client.get_run(row.run_id)
        planned = by_name[row.trial]
        best = max(range(len(planned.acc1)), key=planned.acc1.__getitem__)
        assert row.arch == planned.model["arch"] == run.data.tags["ladder.arch"]
        assert row.resolution == planned.model["resolution"]
        assert row.top1 == run.data.metrics["best/val/acc1"] == planned.acc1[best]
        assert row.top5 == planned.acc5[best]
        assert row.best_epoch == best + 1
        assert (row.params, row.macs) == (planned.params, planned.macs)
        assert row.epochs == 2
        assert row.train_time == run.data.metrics["train/total_time"] == 5.0
        assert row.status == planned.status
    assert rows[0].scaling == {"alpha": "1.2", "beta": "1.1", "gamma": "1.15", "phi": "1"}
    assert rows[1].scaling == {"width": "1.0", "depth": "1.0"}
    assert rows[3].scaling == {}
    assert {row.trial for row in rows if row.pareto} == {"efficientnet_phi1", "lenet5_r32"}


def test_pareto_front_by_hand():
    points = [(1.0, 0.50), (2.0, 0.70), (3.0, 0.60), (2.0, 0.70), (4.0, 0.90), (0.5, 0.10),
              (4.0, 0.85), (5.0, 0.90)]  # fmt: skip
    # (3, .6) is beaten by (2, .7); (4, .85) by (4, .9); (5, .9) costs more for the same;
    # the two equal (2, .7) points do not dominate each other.
    assert pareto_front(points) == {0, 1, 3, 4, 5}
    assert pareto_front([]) == set()


def test_unfinished_trials_come_last_unmarked(store, sweep_logger, trials):
    sweep_logger(store, trials=trials[:2])
    sweep_logger(store, trials=trials[2:3], epochs=0)  # started, no epoch yet
    rows = leaderboard_rows(MlflowClient(store), "sweep-a")
    assert [row.trial for row in rows] == ["resnet18_r32", "lenet5_r32", "efficientnet_phi1"]
    assert (rows[-1].top1, rows[-1].pareto, rows[-1].status) == (None, False, "running")
    assert [row.pareto for row in rows[:2]] == [True, True]


def test_formats(store, sweep_logger, capsys):
    sweep_logger(store)
    rows = leaderboard_rows(MlflowClient(store), None)  # None: the latest sweep

    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 0 and json.loads(out) == [asdict(row) for row in rows]

    code, out, _ = run_cli(capsys, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [line["trial"] for line in table] == [row.trial for row in rows]
    assert [float(line["top1"]) for line in table] == [row.top1 for row in rows]

    code, out, _ = run_cli(capsys, "--format", "md")
    lines = out.splitlines()
    assert lines[0].startswith("| # | trial | arch |") and set(lines[1]) <= set("|- ")
    assert len(lines) == 2 + len(rows)
    assert "| 1 | efficientnet_phi1 | efficientnet |" in lines[2]
    assert "80.00" in lines[2] and lines[2].endswith("| * |")

    code, out, _ = run_cli(capsys)  # the terminal table
    header, first = out.splitlines()[:2]
    assert header.split()[:3] == ["#", "trial", "arch"]
    assert first.split()[:3] == ["1", "efficientnet_phi1", "efficientnet"]
    assert "12M" in first and "4.6M" in first and "0m05s" in first


def test_default_experiment_is_the_latest_sweep(store, sweep_logger, trials, capsys):
    sweep_logger(store, sweep="older", trials=trials[:1])
    sweep_logger(store, sweep="newer", trials=trials[1:2])
    code, out, _ = run_cli(capsys, "--format", "json")
    assert [row["trial"] for row in json.loads(out)] == ["resnet18_r32"]
    code, out, _ = run_cli(capsys, "--experiment", "older", "--format", "json")
    assert [row["trial"] for row in json.loads(out)] == ["lenet5_r32"]


def test_write_leaderboard_attaches_md_csv_json(store, sweep_logger, tmp_path):
    tracker = sweep_logger(store)
    rows = leaderboard_rows(tracker.client, "sweep-a")
    write_leaderboard(tracker.client, tracker.parent_run_id, rows)
    client = MlflowClient(store)
    names = sorted(a.path for a in client.list_artifacts(tracker.parent_run_id))
    assert names == ["leaderboard.csv", "leaderboard.json", "leaderboard.md"]
    local = client.download_artifacts(tracker.parent_run_id, "leaderboard.json", str(tmp_path))
    assert json.loads(Path(local).read_text()) == [asdict(row) for row in rows]


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        ("sweep", ["--experiment", "nope"], "--experiment 'nope': no such experiment; existing:"),
        ("unfinished", [], "has no trial with a finished epoch yet"),
        ("nothing", [], "no MLflow store at"),
        ("empty", [], "holds no sweep yet"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    store, sweep_logger, trials, capsys, tmp_path, setup, argv, message
):
    if setup == "sweep":
        sweep_logger(store)
    elif setup == "unfinished":
        sweep_logger(store, trials=trials[:2], epochs=0)
    elif setup == "nothing":
        (tmp_path / "mlflow.db").unlink()
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("ladder leaderboard: error: ")
    assert message in err
    if setup == "sweep":
        assert "sweep-a" in err and "Default" in err
    if setup == "nothing":
        assert not (tmp_path / "mlflow.db").exists()  # reading must not create a store


def test_unreachable_server_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # closed
    code, out, err = run_cli(capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "is unreachable" in err and "MLFLOW_TRACKING_URI" in err


@pytest.mark.slow
def test_through_a_tracking_server_reads_back_the_same(
    store, mlflow_server, sweep_logger, monkeypatch, capsys
):
    over_http = sweep_logger(mlflow_server, sweep="http-sweep")
    sweep_logger(store, sweep="http-sweep")
    local_rows = leaderboard_rows(MlflowClient(store), "http-sweep")
    server_rows = leaderboard_rows(MlflowClient(mlflow_server), "http-sweep")

    def without_ids(rows):
        return [{**asdict(row), "run_id": None} for row in rows]

    assert without_ids(server_rows) == without_ids(local_rows)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    capsys.readouterr()  # MLflow prints each ended run's URL when it talks to a server
    code, out, _ = run_cli(capsys, "--experiment", "http-sweep", "--format", "json")
    assert code == 0 and json.loads(out) == [asdict(row) for row in server_rows]

    write_leaderboard(over_http.client, over_http.parent_run_id, server_rows)  # artifacts via proxy
    names = {a.path for a in MlflowClient(mlflow_server).list_artifacts(over_http.parent_run_id)}
    assert names == {"leaderboard.csv", "leaderboard.json", "leaderboard.md"}


def test_a_trial_the_scheduler_stopped_reads_stopped_at_its_epoch(store, sweep_logger, trials):
    stopped = replace(trials[1], acc1=[0.55], acc5=[0.9], status="stopped")
    sweep_logger(store, trials=[trials[0], stopped])
    rows = {row.trial: row for row in leaderboard_rows(MlflowClient(store), "sweep-a")}
    assert rows["resnet18_r32"].status == "stopped at epoch 1"
    assert rows["lenet5_r32"].status == "finished"
    assert MlflowClient(store).get_run(rows["resnet18_r32"].run_id).info.status == "FINISHED"


def test_measured_costs_are_columns(store, sweep_logger, capsys):
    sweep_logger(store, trials=MEASURED_TRIALS)
    rows = {row.trial: row for row in leaderboard_rows(MlflowClient(store), "sweep-a")}
    resnet = rows["resnet18_r32"]
    assert (resnet.throughput, resnet.latency_ms, resnet.peak_memory_mb) == MEASURED["resnet18_r32"]
    assert resnet.activations == 3.7e6 and resnet.train_throughput == 800.0

    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 0
    first = json.loads(out)[0]
    assert first["trial"] == "efficientnet_phi1" and first["throughput"] == 1500.0
    assert first["latency_ms"] == 4.0 and first["activations"] == 1.2e6

    code, out, _ = run_cli(capsys)
    header, first_line = out.splitlines()[:2]
    for column in ("acts", "img/s", "latency", "train img/s", "peak mem"):
        assert column in header
    assert "1.5e+03" in first_line and "4ms" in first_line and "1100MB" in first_line


def test_the_throughput_front_is_not_the_macs_front(store, sweep_logger, capsys):
    """ResNet-18 costs 3x EfficientNet's MACs but runs 2x faster: by MACs it is dominated,
    by measured speed it is on the front."""
    sweep_logger(store, trials=MEASURED_TRIALS)
    client = MlflowClient(store)

    def front(by: str) -> set[str]:
        return {row.trial for row in leaderboard_rows(client, "sweep-a", by) if row.pareto}

    assert front("macs") == {"lenet5_r32", "efficientnet_phi1"}
    assert front("throughput") == {"lenet5_r32", "resnet18_r32", "efficientnet_phi1"}
    assert front("latency") == front("throughput")

    code, out, _ = run_cli(capsys, "--pareto-by", "throughput", "--format", "csv")
    marked = {
        line["trial"] for line in csv.DictReader(io.StringIO(out)) if line["pareto"] == "True"
    }
    assert code == 0 and marked == front("throughput")


def test_without_measurements_no_throughput_front(store, sweep_logger):
    sweep_logger(store)  # trials logged before any measuring: MACs only
    rows = leaderboard_rows(MlflowClient(store), "sweep-a", "throughput")
    assert not any(row.pareto for row in rows)
    assert all(row.throughput is None and row.latency_ms is None for row in rows)


# ---- seeds: one row per model point, mean ± std over its seeds, ties within the spread


def test_the_seeds_of_a_point_are_one_row_with_mean_std_and_n(store, sweep_logger):
    sweep_logger(store, trials=SEEDED_TRIALS)
    client = MlflowClient(store)
    rows = leaderboard_rows(client, "sweep-a")

    assert [row.trial for row in rows] == [
        "efficientnet_phi1", "resnet18_r32", "lenet5_r32", "vgg16_r32"
    ]  # fmt: skip
    top1 = {row.trial: (row.top1, row.top1_std, row.n, row.seeds) for row in rows}
    assert top1["efficientnet_phi1"] == (0.80, None, 1, [0])  # one seed: no std, not 0
    mean, std, n, seeds = top1["resnet18_r32"]
    assert (mean, std, n, seeds) == (pytest.approx(0.63), pytest.approx(0.028284, abs=1e-6), 2,
                                     [0, 1])  # fmt: skip
    assert top1["vgg16_r32"][:3] == (pytest.approx(0.62), pytest.approx(0.056569, abs=1e-6), 2)
    assert [row.tie for row in rows] == [False, False, True, True]
    assert [row.pareto for row in rows] == [True, True, True, False]
    assert [row.pareto_tie for row in rows] == [False, False, False, True]
    resnet = rows[1]
    assert resnet.top5 == pytest.approx(0.97) and resnet.epochs == 2
    best_seed = client.get_run(resnet.run_id)  # the run of the point's best seed
    assert best_seed.info.run_name == "resnet18_r32_seed1" and best_seed.data.params["seed"] == "1"
    assert rows[3].status == "error"  # one seed of vgg16 errored: the point is not done


def test_every_format_carries_mean_std_n_and_ties(store, sweep_logger, capsys):
    sweep_logger(store, trials=SEEDED_TRIALS)
    rows = leaderboard_rows(MlflowClient(store), "sweep-a")

    code, out, _ = run_cli(capsys, "--format", "json")
    assert code == 0 and json.loads(out) == [asdict(row) for row in rows]
    lenet = json.loads(out)[2]
    assert (lenet["top1"], lenet["n"], lenet["seeds"], lenet["tie"]) == (
        pytest.approx(0.62), 2, [0, 1], True
    )  # fmt: skip
    assert lenet["top1_std"] == pytest.approx(0.028284, abs=1e-6)

    code, out, _ = run_cli(capsys, "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert [(line["n"], line["seeds"]) for line in table] == [
        ("1", "0"), ("2", "0 1"), ("2", "0 1"), ("2", "0 1")
    ]  # fmt: skip
    assert table[0]["top1_std"] == "" and float(table[1]["top1_std"]) == rows[1].top1_std

    code, out, _ = run_cli(capsys, "--format", "md")
    lines = out.splitlines()
    assert "| top-1 % | ± std | n | tie |" in lines[0]
    assert "| 80.00 | - | 1 |  |" in lines[2]  # one seed: the std is absent, not 0
    assert "| 62.00 | 2.83 | 2 | = |" in lines[4] and lines[4].endswith("| * |")
    assert "| 62.00 | 5.66 | 2 | = |" in lines[5] and lines[5].endswith("| = |")  # Pareto tie

    code, out, _ = run_cli(capsys)  # the terminal table
    header, *body = out.splitlines()
    assert re.search(r"top-1 %\s+± std\s+n\s+tie\s+top-5 %", header)
    assert body[0].split()[:2] == ["1", "efficientnet_phi1"]
    assert re.search(r" 80\.00\s+-\s+1\s", body[0])  # one seed: no std
    assert re.search(r" 62\.00\s+2\.83\s+2\s+=\s", body[2])
