"""`ladder bench sweep`: what a sweep costs beside training, at growing trial counts.

Each size is a real `ladder sweep` (a fresh process, its own local Ray, a sqlite MLflow
store, as `make sweep` runs) of N identical LeNet-5 trials of one epoch on the digits:
about a second of training each, so what is left is the bookkeeping that grows with N.
From the process and each trial's Tune results (`result.json`) it reads:

  wall                 the whole command, start-up and leaderboard included
  per trial            (wall - sweep start-up - sweep end) x slots / N: a slot's time per
                       trial, what N more trials cost
  in the trial         Tune's time in the trial function (mean over trials, so that it
                       and `between` add up to `per trial`: a median would leave out the
                       actor start-ups a few trials pay), of which training is
                       `train/epoch_time` and the rest, before the first report, the
                       model's build, its cost measured, the loaders, validation and, in a
                       fresh actor, the imports
  between trials       per trial - in the trial: Tune scheduling, an actor started or
                       reset, reports and their tracking
  sweep start-up/end   process start to the first trial's start (Ray, imports, MLflow,
                       the plan's price); the last trial's end to exit (leaderboard, charts)
  driver peak memory   the `ladder sweep` process's peak RSS (VmHWM), sampled

Then, unless `--asha-trials 0`, one ASHA sweep (`--scheduler asha`) of that many LeNet-5
trials of up to ASHA_EPOCHS epochs, seeds 0-3, so that the rungs have losers to stop: the
regression test, at scale, of the deadlock where a stopped trial kept its CPUs and the
trials after it waited for ever. It reports how many finished, were stopped early, or
never ran (`never_ran`: none, or the sweep is stuck), the most trials that ran at once
(at most the slots) and how busy the slots were from the first trial's start to the last
one's end (`slots_busy`: a slot a stopped trial kept would leave it idle).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import accumulate
from pathlib import Path

from lightning_modules.metric_names import TRAIN_EPOCH_TIME
from pipeline.bench.curves import curves

ASHA_EPOCHS = 4  # rungs at epochs 1 and 2 (grace period 1, reduction factor 2)
ASHA_SEEDS = 4


def bench_sweep(sizes: list[int], data: Path | None = None, asha_trials: int = 128) -> dict:
    """One sweep of each size in `sizes` on the digits' shards at `data` (None: the demo
    folder; built if absent), then an ASHA sweep of `asha_trials` trials (0: none),
    measured as the module docstring says."""
    from pipeline.data.demo import demo_shards

    data = demo_shards(data) if data else demo_shards()
    slots = os.cpu_count() or 1  # a local Ray's CPUs, one trial on each
    points, asha = {}, {}
    with tempfile.TemporaryDirectory(prefix="ladder-scale-") as scratch:
        for count in sizes:
            print(f"ladder bench sweep: {count} trials ...", file=sys.stderr, flush=True)
            trials, start, end, peak_kb = one_sweep(Path(scratch), data, count)
            points[count] = breakdown(trials, start, end, count, slots, peak_kb)
        if asha_trials:
            count = asha_trials
            print(f"ladder bench sweep: {count} trials, ASHA ...", file=sys.stderr, flush=True)
            trials, start, end, _ = one_sweep(Path(scratch), data, count, asha=True)
            asha = asha_outcome(trials, start, end, count, slots)
    return {
        "benchmark": "sweep",
        "x": "trials",
        "slots": slots,
        "trial": "lenet5, 1 epoch of the digits (1437 images), local Ray, sqlite MLflow",
        "points": {str(n): point for n, point in points.items()},
        **({"asha": asha} if asha else {}),
        "curves": curves({
            "wall": {n: p["wall_s"] for n, p in points.items()},
            "per trial": {n: p["per_trial_s"] for n, p in points.items()},
        }),
    }  # fmt: skip


def one_sweep(
    scratch: Path, data: Path, count: int, asha: bool = False
) -> tuple[list[list[dict]], float, float, int]:
    """Run a `ladder sweep` of `count` LeNet-5 trials (one epoch; or under ASHA, seeds
    0-3 of up to ASHA_EPOCHS); its trials' Tune results, start, end and peak memory (KB)."""
    name, storage = f"scale-{count}{'-asha' if asha else ''}", scratch / "sweeps"
    models = count // ASHA_SEEDS if asha else count
    argv = [sys.executable, "-m", "pipeline", "sweep", "--space", "ladder",
            "--set", "archs=" + ",".join(["lenet5"] * models), "--data", str(data),
            "--name", name, "--storage", str(storage), "--epochs", "1"]  # fmt: skip
    if asha:
        argv[-1:] = [str(ASHA_EPOCHS), "--scheduler", "asha", "--seeds", str(ASHA_SEEDS)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / f'{name}.db'}"}
    env.pop("RAY_ADDRESS", None)
    start = time.time()
    with (scratch / f"{name}.log").open("w") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        peak_kb = peak_rss_kb(process)
    end = time.time()
    if process.returncode != 0:
        tail = (scratch / f"{name}.log").read_text()[-2000:]
        raise RuntimeError(f"ladder sweep of {count} trials exited {process.returncode}: {tail}")
    return trial_rows(storage / name), start, end, peak_kb


def peak_rss_kb(process: subprocess.Popen) -> int:
    """The process's peak resident memory, sampled from /proc until it exits."""
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError):
            pass
        time.sleep(0.5)
    return peak


def trial_rows(folder: Path) -> list[list[dict]]:
    """Each trial's Tune results, in order."""
    trials = []
    for path in sorted(folder.glob("*/result.json")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            trials.append(rows)
    return trials


def asha_outcome(
    trials: list[list[dict]], start: float, end: float, count: int, slots: int
) -> dict:
    """What became of an ASHA sweep's trials, and whether its slots stayed busy."""
    spans = sorted((rows[-1]["timestamp"] - rows[-1]["time_total_s"], rows[-1]["timestamp"])
                   for rows in trials)  # fmt: skip
    # Tune's timestamps are whole seconds: a trial may seem to start up to 1 s before the
    # one it followed on its slot ended, so a start counts 1 s late here
    edges = sorted([(begin + 1, 1) for begin, _ in spans] + [(stop, -1) for _, stop in spans])
    running = list(accumulate(step for _, step in edges))  # an end before a start at a tie
    first, last = spans[0][0], max(stop for _, stop in spans)
    epochs = [rows[-1]["epoch"] for rows in trials]
    return {
        "trials": count,
        "max_epochs": ASHA_EPOCHS,
        "finished": sum(epoch == ASHA_EPOCHS for epoch in epochs),
        "stopped_early": sum(epoch < ASHA_EPOCHS for epoch in epochs),
        "never_ran": count - len(trials),
        "epochs_trained": sum(epochs),
        "max_running": max(running),
        "slots_busy": round(sum(b - a for a, b in spans) / (slots * (last - first)), 2),
        "wall_s": round(end - start, 1),
    }


def breakdown(
    trials: list[list[dict]], start: float, end: float, count: int, slots: int, peak_kb: int
) -> dict:
    """The phases of the module docstring, in seconds (means over trials)."""
    if len(trials) != count:
        raise RuntimeError(f"a sweep of {count} trials left {len(trials)} results")
    began = [rows[-1]["timestamp"] - rows[-1]["time_total_s"] for rows in trials]
    ended = [rows[-1]["timestamp"] for rows in trials]
    startup, finish = min(began) - start, end - max(ended)
    per_trial = (end - start - startup - finish) * min(slots, count) / count
    in_trial = statistics.fmean(rows[-1]["time_total_s"] for rows in trials)
    training = statistics.fmean(rows[0][TRAIN_EPOCH_TIME] for rows in trials)
    return {
        "wall_s": round(end - start, 1),
        "sweep_startup_s": round(startup, 1),
        "sweep_end_s": round(finish, 1),
        "per_trial_s": round(per_trial, 2),
        "in_trial_s": round(in_trial, 2),
        "training_s": round(training, 2),
        "in_trial_not_training_s": round(in_trial - training, 2),
        "between_trials_s": round(per_trial - in_trial, 2),
        "driver_peak_mb": round(peak_kb / 1024),
    }
