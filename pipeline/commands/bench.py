"""`ladder bench`: benchmarks (JSON): data loading, models, and how costs grow with scale.

`data` is pipeline/bench/suite.py's and `model` pipeline/bench/model_speed.py's; `tracking`
(the leaderboard over generated sweeps of `--runs` trials), `sync` (`ladder sync` of a
journal of `--records` records, pipeline/bench/sync_scale.py), `shards` (`ladder shards` on
`--images` synthetic images), `shards-rerun` (a rerun of
`ladder shards` over `--shards` finished shards) and `sweep` (real sweeps of `--trials`
trivial trials, pipeline/bench/sweep_scale.py) are pipeline/bench/scale.py's, and
`rank-split` (which reader of `--ranks` x `--workers` reads which of `--shards` shards,
by the data module's own rule) is pipeline/bench/rank_split.py's, and `charts` (every
chart drawn from `--trials` generated trials) pipeline/bench/chart_scale.py's; `make
bench-scale` runs these. The flags become each library's typed request here, so that a
notebook makes the same calls.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.bench.curves import publish  # stdlib only: `--help` stays light

SUITE = ("data", "model")  # pipeline.bench.suite's, model_speed's
# pipeline.bench.scale's: benchmark -> the flag of the sizes it measures
SIZES = {"tracking": "runs", "sync": "records", "shards": "images", "shards-rerun": "shards",
         "sweep": "trials"}  # fmt: skip
SCALE = tuple(SIZES)
SPLIT = ("rank-split",)  # pipeline.bench.rank_split's
CHARTS = ("charts",)  # pipeline.bench.chart_scale's
BENCHMARKS = SUITE + SCALE + SPLIT + CHARTS
DEFAULTS = {  # flags whose default depends on the benchmark ("": the others')
    "batch_size": {"": 64, "rank-split": 256},
    "loader_workers": {"": 2, "rank-split": 4},
    "shards": {"": "100,300,1000", "rank-split": "1000"},
    "per_shard": {"": 10, "rank-split": 1250, "shards": 1000},
    "trials": {"": "8,32,128", "charts": "4,1000"},
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=BENCHMARKS, help="what to benchmark")
    parser.add_argument("--data", type=Path, help="data: shards (`ladder shards`); sweep: digits'")
    parser.add_argument("--src", type=Path, help="data: the original tree (train/<class>/...)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="data: N synthetic photos")
    parser.add_argument("--resolutions", default="224,128,64", help="data: comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per variant")
    parser.add_argument("--arch", default="lenet5,resnet18", help="model: comma-separated archs")
    parser.add_argument("--steps", type=int, default=5, help="model: timed steps per mode")
    parser.add_argument("--batch-size", type=int, help="per rank (default 64; rank-split 256)")
    parser.add_argument("--loader-workers", "--workers", type=int,
                        help="DataLoader workers per rank (default 2; rank-split 4)")  # fmt: skip
    parser.add_argument("--resolution", type=int, default=224, help="model: input size")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="model: channels-last memory format (auto: on CUDA)")  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="model: torch.compile each model")
    parser.add_argument("--batches", type=int, default=20, help="data: timed batches per loader")
    parser.add_argument("--runs", default="100,1000", help="tracking: trial counts")
    parser.add_argument("--trials", help="sweep: trial counts (8,32,128); charts: 4,1000")
    parser.add_argument("--images", default="10000,100000,1000000",
                        help="shards: synthetic image counts")  # fmt: skip
    parser.add_argument("--asha-trials", type=int, default=128,
                        help="sweep: then an ASHA sweep of this many (4k; 0: none)")  # fmt: skip
    parser.add_argument("--store", type=Path, help="tracking: keep the generated stores here")
    parser.add_argument("--records", default="100,1000,10000", help="sync: journal records")
    parser.add_argument("--tracking-uri", metavar="URL",
                        help="tracking, sync: a server (`ladder server`), not sqlite")  # fmt: skip
    parser.add_argument("--shards", help="shards-rerun: shard counts (default 100,300,1000); "
                        "rank-split: train shards (default 1000)")  # fmt: skip
    parser.add_argument("--per-shard", type=int,
                        help="a shard's images (10; rank-split 1250; shards 1000)")  # fmt: skip
    parser.add_argument("--val-shards", type=int, default=40, help="rank-split: val shards")
    parser.add_argument("--ranks", default="8,64,512", help="rank-split: DDP rank counts")
    parser.add_argument("--out", type=Path, help="also write the JSON here (scale: and a PNG)")


def run(args: argparse.Namespace) -> int:
    for dest, defaults in DEFAULTS.items():
        if getattr(args, dest) is None:
            setattr(args, dest, defaults.get(args.what, defaults[""]))
    if args.what in SPLIT:
        return run_split(args)
    if args.what in CHARTS:
        return run_charts(args)
    if args.what in SCALE:  # no torch to import for these
        return run_scale(args)
    result = data_bench(args) if args.what == "data" else model_bench(args)
    publish(json.dumps(result, indent=1), result, args.out)
    return 0


def run_split(args: argparse.Namespace) -> int:
    from pipeline.bench import rank_split

    setup = rank_split.setup_of(
        shards=args.shards, val_shards=args.val_shards, per_shard=args.per_shard,
        ranks=args.ranks, workers=args.loader_workers, batch_size=args.batch_size,
    )  # fmt: skip
    result = rank_split.bench_rank_split(setup)
    publish(rank_split.compact(json.dumps(result, indent=1)), result, args.out, rank_split.plot)
    return 0


def run_charts(args: argparse.Namespace) -> int:
    from pipeline.bench import chart_scale, scale

    result = chart_scale.bench_charts(list(scale.counts_of("--trials", args.trials)))
    publish(json.dumps(result, indent=1), result, args.out, chart_scale.plot)
    return 0


def run_scale(args: argparse.Namespace) -> int:
    from pipeline.bench import scale

    flag = SIZES[args.what]
    request = scale.ScaleRequest(
        benchmark=args.what, sizes=scale.counts_of(f"--{flag}", getattr(args, flag)),
        rounds=args.rounds, per_shard=args.per_shard, workers=args.loader_workers,
        store=args.store, tracking_uri=args.tracking_uri, data=args.data,
        asha_trials=args.asha_trials,
    )  # fmt: skip
    result = scale.bench_scale(request)
    publish(json.dumps(result, indent=1), result, args.out, scale.plot)
    return 0


def data_bench(args: argparse.Namespace) -> dict:
    from pipeline.bench.suite import DataBench, bench_data, resolutions_of

    return bench_data(DataBench(
        resolutions=resolutions_of(args.resolutions), data=args.data, src=args.src,
        synthetic=args.synthetic, batch_size=args.batch_size,
        loader_workers=args.loader_workers, batches=args.batches, rounds=args.rounds,
    ))  # fmt: skip


def model_bench(args: argparse.Namespace) -> dict:
    from pipeline.bench.model_speed import ModelBench, archs_of, bench_model

    return bench_model(ModelBench(
        archs=archs_of(args.arch), resolution=args.resolution, batch_size=args.batch_size,
        steps=args.steps, channels_last=args.channels_last, compile=args.compile,
    ))  # fmt: skip
