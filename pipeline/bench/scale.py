"""`ladder bench tracking`, `sync`, `shards`, `shards-rerun`, `sweep`: how costs grow with scale.

A pipeline that is quick on the demo can still grow badly: a request per trial, a pass
over every pair of trials, a read of every byte of data that did not change. These two
benchmarks measure the time at several sizes and fit the log-log slope (1: linear, 2:
quadratic; a constant start-up flattens it at small sizes), written as JSON and, with
`--out`, as a PNG of the measured points beside it.

  tracking       over a generated sweep of each of `--runs` trial counts
                 (`pipeline.bench.tracking_load`): `ladder leaderboard` (the whole command,
                 a fresh process each round, and `leaderboard_rows` alone), `ladder chart`
                 (a fresh process) and the query `ladder ui`'s trials page makes (its saved
                 view's first page of 100 runs). In sqlite stores kept in `--store`
                 (default: a temporary folder), or in the store of the server at
                 `--tracking-uri` (`ladder server` on PostgreSQL, reached over HTTP as a
                 team's clients reach it); a sweep generated once is reused by later runs
  shards         `ladder shards` (a fresh process) on an ImageNet-layout tree of each of
                 `--images` counts of tiny PNGs in CLASSES classes, `--per-shard` (default
                 1,000, ImageNet's) a shard, `--workers` writers: seconds, the largest
                 process's peak memory (the command or a writer), the shards' bytes on disk
  shards-rerun   `ladder shards` rerun into a finished `--out` of each of `--shards` shard
                 counts (`--per-shard` tiny PNGs each): the default rerun (name + size) and
                 `--verify` (every sha256), beside the first write
  sync           `ladder sync` of a sweep's journal of each of `--records` counts
                 (`pipeline.bench.sync_scale`)
  sweep          real `ladder sweep`s of each of `--trials` trivial trials: the per-trial
                 cost beside training, by phase (`pipeline.bench.sweep_scale`)

`bench_scale(ScaleRequest(...))` runs one of them: the command's call, and a notebook's.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.bench.curves import curves

TINY_SIDE = 8  # pixels: the images' cost is not what a rerun should measure
CLASSES = 10


@dataclass(frozen=True)
class ScaleRequest:
    """One benchmark at each of its `sizes` (its `--runs`, `--records`, `--images`,
    `--shards` or `--trials`); each benchmark reads only the settings it names."""

    benchmark: str  # tracking, sync, shards, shards-rerun or sweep
    sizes: tuple[int, ...]
    rounds: int = 3  # tracking, shards-rerun: measurements per size
    per_shard: int = 10  # shards, shards-rerun: images a shard
    workers: int = 2  # shards, shards-rerun: `ladder shards --workers`
    store: Path | None = None  # tracking: keep the sqlite stores here
    tracking_uri: str | None = None  # tracking, sync: a server's store, not sqlite
    data: Path | None = None  # sweep: the digits' shards (None: made)
    asha_trials: int = 128  # sweep: then an ASHA sweep of this many (0: none)


def bench_scale(request: ScaleRequest) -> dict:
    """The benchmark's result (its curves); InputError for a bad setting or absent server."""
    if request.rounds < 1:
        raise InputError(f"--rounds {request.rounds}: expected >= 1")
    if request.asha_trials < 0 or request.asha_trials % 4:
        raise InputError(f"--asha-trials {request.asha_trials}: expected 0 or a multiple of 4")
    if request.tracking_uri:  # MLflow would retry an absent server for minutes
        from pipeline.tracking.schema import check_reachable

        check_reachable(request.tracking_uri)
    sizes = sorted(request.sizes)
    if request.benchmark == "sweep":
        from pipeline.bench.sweep_scale import bench_sweep

        return bench_sweep(sizes, request.data, request.asha_trials)
    if request.benchmark == "sync":
        from pipeline.bench.sync_scale import bench_sync

        return bench_sync(sizes, request.tracking_uri)
    if request.benchmark == "tracking":
        return bench_tracking(sizes, request.rounds, request.store, request.tracking_uri)
    if request.benchmark == "shards":
        return bench_shards(sizes, request.per_shard, request.workers)
    return bench_shards_rerun(sizes, request.per_shard, request.workers, request.rounds)


def counts_of(flag: str, text: str) -> tuple[int, ...]:
    """The sorted counts a comma-separated flag (`--runs 100,1000`) names, each >= 1."""
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        sizes = ()
    if not sizes or sizes[0] < 1:
        raise InputError(f"{flag} {text!r}: expected counts >= 1 like 100,1000")
    return sizes


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 4)


# ------------------------------------------------------------------ tracking


def bench_tracking(
    sizes: list[int], rounds: int, store: Path | None = None, tracking_uri: str | None = None
) -> dict:
    """What reads a sweep back, timed at each trial count, in stores generated once."""
    timed = {"ladder leaderboard": leaderboard_process, "leaderboard_rows": leaderboard_in_process,
             "ladder chart": chart_process, "ui trials page": ui_page_query}  # fmt: skip
    seconds: dict[str, dict[int, float]] = {name: {} for name in timed}
    generated = {}
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        folder = store or Path(scratch)
        for count in sizes:
            print(f"ladder bench tracking: {count} runs ...", file=sys.stderr, flush=True)
            uri, generated[str(count)] = load_store(tracking_uri or folder, count)
            for name, action in timed.items():
                seconds[name][count] = median_seconds(partial(action, uri, count), rounds)
    return {
        "benchmark": "tracking",
        "x": "trial runs",
        "rounds": rounds,
        "store": "server " + tracking_uri if tracking_uri else "sqlite",
        "curves": curves(seconds),
        "generate_seconds": generated,
    }


def load_store(where: Path | str, count: int) -> tuple[str, float | None]:
    """The tracking URI holding sweep `load-{count}`: a sqlite store in folder `where`, or
    the server at URI `where`, the sweep written there if it is not yet; and the seconds
    writing took (None: it was there)."""
    from mlflow import MlflowClient

    from pipeline.bench.tracking_load import generate_sweep

    if isinstance(where, Path):
        path = where / f"runs-{count}" / "mlflow.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{path.resolve()}"
    else:
        uri = where
    if MlflowClient(tracking_uri=uri).get_experiment_by_name(f"load-{count}") is not None:
        return uri, None
    start = time.perf_counter()
    generate_sweep(uri, count, f"load-{count}")
    return uri, round(time.perf_counter() - start, 1)


def leaderboard_process(uri: str, count: int) -> None:
    """`ladder leaderboard` as a user runs it: a fresh interpreter, JSON out."""
    argv = [sys.executable, "-m", "pipeline", "leaderboard", "--experiment", f"load-{count}",
            "--format", "json"]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)


def leaderboard_in_process(uri: str, count: int) -> None:
    from mlflow import MlflowClient

    from pipeline.report.leaderboard import leaderboard_rows

    leaderboard_rows(MlflowClient(tracking_uri=uri), f"load-{count}")


def chart_process(uri: str, count: int) -> None:
    """`ladder chart` as a user runs it: a fresh interpreter, the sweep's charts (PNG and
    HTML) into a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as out:
        argv = [sys.executable, "-m", "pipeline", "chart", "--experiment", f"load-{count}",
                "--out", out]  # fmt: skip
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)


def ui_page_query(uri: str, count: int) -> None:
    """The runs search the trials page of `ladder ui` sends first: the saved view's filter
    and order, one page of 100 runs (the MLflow UI's page)."""
    from mlflow import MlflowClient

    from pipeline.tracking.schema import refresh_query_statistics
    from pipeline.tracking.ui_view import view_state

    refresh_query_statistics(uri)  # as `ladder ui` does when it starts
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"load-{count}")
    state = view_state()
    order = f"{state['orderByKey']} {'ASC' if state['orderByAsc'] else 'DESC'}"
    client.search_runs([experiment.experiment_id], state["searchFilter"], order_by=[order],
                       max_results=100)  # fmt: skip


# ------------------------------------------------------------------ shards


def bench_shards(sizes: list[int], per_shard: int, workers: int) -> dict:
    """`ladder shards` on trees of growing size: one tree, grown from one size to the next,
    each size sharded into an empty folder once."""
    if per_shard < 1:
        raise InputError(f"--per-shard {per_shard}: expected >= 1")
    seconds, peak_mb, disk_bytes = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        src, out, written = Path(scratch) / "src", Path(scratch) / "out", 0
        for count in sizes:
            print(f"ladder bench shards: {count} images ...", file=sys.stderr, flush=True)
            write_tiny_tree(src, count, start=written)
            written = count
            start = time.perf_counter()
            peak_mb[count] = round(peak_rss_kb(shards_argv(src, out, per_shard, workers)) / 1024)
            seconds[count] = round(time.perf_counter() - start, 1)
            disk_bytes[count] = sum(path.stat().st_size for path in out.iterdir())
            shutil.rmtree(out)
    return {
        "benchmark": "shards",
        "x": "images",
        "image": f"{TINY_SIDE}x{TINY_SIDE} PNG, {CLASSES} classes",
        "images_per_shard": per_shard,
        "workers": workers,
        "peak_memory_mb": peak_mb,
        "disk_bytes": disk_bytes,
        "curves": curves({"ladder shards": seconds}),
    }


def peak_rss_kb(argv: list[str]) -> int:
    """Run argv; the peak resident memory of it or of any process it waited for (Linux's
    wait4 reports the largest of them), in KiB."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, argv)
    return usage.ru_maxrss


# ------------------------------------------------------------------ shards-rerun


def bench_shards_rerun(sizes: list[int], per_shard: int, workers: int, rounds: int) -> dict:
    """A rerun's time into a finished folder of each shard count, with and without
    `--verify`, beside the first write's."""
    if per_shard < 1:
        raise InputError(f"--per-shard {per_shard}: expected >= 1")
    write, rerun, verify = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        for count in sizes:
            src, out = Path(scratch) / f"src-{count}", Path(scratch) / f"out-{count}"
            write_tiny_tree(src, count * per_shard)
            run = partial(shards_process, src, out, per_shard, workers)
            write[count] = median_seconds(run, 1)
            rerun[count] = median_seconds(run, rounds)
            verify[count] = median_seconds(partial(run, "--verify"), rounds)
    return {
        "benchmark": "shards-rerun",
        "x": "shards",
        "images_per_shard": per_shard,
        "rounds": rounds,
        "curves": curves({"rerun": rerun, "rerun --verify": verify, "first write": write}),
    }


def write_tiny_tree(src: Path, count: int, start: int = 0) -> None:
    """Tiny PNGs number `start` to `count` - 1 in CLASSES class folders under src/train
    (a tree of `start` grows into one of `count`)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(start)
    folders = [src / "train" / f"class{label}" for label in range(CLASSES)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, count):
        pixels = rng.integers(0, 256, (TINY_SIDE, TINY_SIDE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folders[index % CLASSES] / f"{index:07d}.png")


def shards_argv(src: Path, out: Path, per_shard: int, workers: int, *flags: str) -> list[str]:
    """`ladder shards` as a user runs it, in a fresh interpreter."""
    return [sys.executable, "-m", "pipeline", "shards", "--src", str(src), "--out", str(out),
            "--shard-size", str(per_shard), "--workers", str(workers),
            *flags]  # fmt: skip


def shards_process(src: Path, out: Path, per_shard: int, workers: int, *flags: str) -> None:
    argv = shards_argv(src, out, per_shard, workers, *flags)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


# ------------------------------------------------------------------ the curve


def plot(result: dict, path: Path) -> None:
    """The measured points of each curve on log-log axes, its fitted slope in the legend."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axes = figure.add_subplot()
    for name, curve in result["curves"].items():
        sizes = [int(n) for n in curve["seconds"]]
        label = name if curve["loglog_slope"] is None else f"{name} (slope {curve['loglog_slope']})"
        axes.plot(sizes, list(curve["seconds"].values()), marker="o", label=label)
    axes.set(xscale="log", yscale="log", xlabel=result["x"], ylabel="seconds (median)",
             title=f"ladder bench {result['benchmark']}")  # fmt: skip
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120)
