"""`ladder bench tracking`, `shards-rerun` and `sweep`: how costs grow with scale.

A pipeline that is quick on the demo can still grow badly: a request per trial, a pass
over every pair of trials, a read of every byte of data that did not change. These two
benchmarks measure the time at several sizes and fit the log-log slope (1: linear, 2:
quadratic; a constant start-up flattens it at small sizes), written as JSON and, with
`--out`, as a PNG of the measured points beside it.

  tracking       `ladder leaderboard` (the whole command, a fresh process each round, and
                 `leaderboard_rows` alone) over a generated sweep of each of `--runs` trial
                 counts (`pipeline.bench.tracking_load`) in a sqlite store; the stores are
                 kept in `--store` (default: a temporary folder) and reused by later runs
  shards-rerun   `ladder shards` rerun into a finished `--out` of each of `--shards` shard
                 counts (`--per-shard` tiny PNGs each): the default rerun (name + size) and
                 `--verify` (every sha256), beside the first write
  sweep          real `ladder sweep`s of each of `--trials` trivial trials: the per-trial
                 cost beside training, by phase (`pipeline.bench.sweep_scale`)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.bench.curves import curves, publish

TINY_SIDE = 8  # pixels: the images' cost is not what a rerun should measure
CLASSES = 10


def main(args: argparse.Namespace) -> int:
    sizes = sizes_of(args)
    if args.rounds < 1:
        raise InputError(f"--rounds {args.rounds}: expected >= 1")
    if args.asha_trials < 0 or args.asha_trials % 4:
        raise InputError(f"--asha-trials {args.asha_trials}: expected 0 or a multiple of 4")
    result = benchmark(args.what)(args, sizes)
    text = json.dumps(result, indent=1)
    publish(text, result, args.out, plot)
    return 0


def benchmark(what: str) -> Callable[[argparse.Namespace, list[int]], dict]:
    if what == "sweep":
        from pipeline.bench.sweep_scale import bench_sweep

        return bench_sweep
    return bench_tracking if what == "tracking" else bench_shards_rerun


def sizes_of(args: argparse.Namespace) -> list[int]:
    """The sizes `--runs` (tracking), `--trials` (sweep) or `--shards` (shards-rerun)
    names, checked."""
    flag = {"tracking": "runs", "sweep": "trials"}.get(args.what, "shards")
    text = getattr(args, flag)
    try:
        sizes = sorted({int(part) for part in text.split(",")})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise InputError(f"--{flag} {text!r}: expected counts >= 1 like 100,1000")
    return sizes


def median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times), 4)


# ------------------------------------------------------------------ tracking


def bench_tracking(args: argparse.Namespace, sizes: list[int]) -> dict:
    """The leaderboard's time at each trial count, in stores generated once and kept."""
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        folder = args.store or Path(scratch)
        command, rows, generated = {}, {}, {}
        for count in sizes:
            uri, generated[str(count)] = load_store(folder, count)
            command[count] = median_seconds(partial(leaderboard_process, uri, count), args.rounds)
            rows[count] = median_seconds(partial(leaderboard_in_process, uri, count), args.rounds)
    return {
        "benchmark": "tracking",
        "x": "trial runs",
        "rounds": args.rounds,
        "store": "sqlite",
        "curves": curves({"ladder leaderboard": command, "leaderboard_rows": rows}),
        "generate_seconds": generated,
    }


def load_store(folder: Path, count: int) -> tuple[str, float | None]:
    """The store of a `count`-trial sweep under `folder` (written the first time), and the
    seconds writing it took (None: it was there)."""
    from pipeline.bench.tracking_load import generate_sweep

    path = folder / f"runs-{count}" / "mlflow.db"
    uri = f"sqlite:///{path.resolve()}"
    if path.is_file():
        return uri, None
    path.parent.mkdir(parents=True, exist_ok=True)
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


# ------------------------------------------------------------------ shards-rerun


def bench_shards_rerun(args: argparse.Namespace, sizes: list[int]) -> dict:
    """A rerun's time into a finished folder of each shard count, with and without
    `--verify`, beside the first write's."""
    if args.per_shard < 1:
        raise InputError(f"--per-shard {args.per_shard}: expected >= 1")
    write, rerun, verify = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        for count in sizes:
            src, out = Path(scratch) / f"src-{count}", Path(scratch) / f"out-{count}"
            write_tiny_tree(src, count * args.per_shard)
            run = partial(shards_process, src, out, args)
            write[count] = median_seconds(run, 1)
            rerun[count] = median_seconds(run, args.rounds)
            verify[count] = median_seconds(partial(run, "--verify"), args.rounds)
    return {
        "benchmark": "shards-rerun",
        "x": "shards",
        "images_per_shard": args.per_shard,
        "rounds": args.rounds,
        "curves": curves({"rerun": rerun, "rerun --verify": verify, "first write": write}),
    }


def write_tiny_tree(src: Path, count: int) -> None:
    """`count` tiny PNGs in CLASSES class folders under src/train."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(count):
        folder = src / "train" / f"class{index % CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (TINY_SIDE, TINY_SIDE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:07d}.png")


def shards_process(src: Path, out: Path, args: argparse.Namespace, *flags: str) -> None:
    """`ladder shards` as a user runs it, in a fresh interpreter."""
    argv = [sys.executable, "-m", "pipeline", "shards", "--src", str(src), "--out", str(out),
            "--shard-size", str(args.per_shard), "--workers", str(args.loader_workers),
            *flags]  # fmt: skip
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
