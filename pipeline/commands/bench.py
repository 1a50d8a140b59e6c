"""`ladder bench`: benchmarks (JSON): data loading, models, and how costs grow with scale.

`data` and `model` go through pipeline/bench/suite.py (model: model_speed.py); `tracking`
(the leaderboard over generated sweeps of `--runs` trials) and `shards-rerun` (a rerun of
`ladder shards` over `--shards` finished shards) are pipeline/bench/scale.py's, which
`make bench-scale` runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SUITE = ("data", "model")  # the keys of pipeline.bench.suite.BENCHMARKS
SCALE = ("tracking", "shards-rerun")  # pipeline.bench.scale's
BENCHMARKS = SUITE + SCALE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=BENCHMARKS, help="what to benchmark")
    parser.add_argument("--data", type=Path, help="data: shard folder (from `ladder shards`)")
    parser.add_argument("--src", type=Path, help="data: the original tree (train/<class>/...)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="data: N synthetic photos")
    parser.add_argument("--resolutions", default="224,128,64", help="data: comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per variant")
    parser.add_argument("--arch", default="lenet5,resnet18", help="model: comma-separated archs")
    parser.add_argument("--steps", type=int, default=5, help="model: timed steps per mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--loader-workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--resolution", type=int, default=224, help="model: input size")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="model: channels-last memory format (auto: on CUDA)")  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="model: torch.compile each model")
    parser.add_argument("--batches", type=int, default=20, help="data: timed batches per loader")
    parser.add_argument("--runs", default="100,1000", help="tracking: trial counts")
    parser.add_argument("--store", type=Path, help="tracking: keep the generated stores here")
    parser.add_argument("--shards", default="100,300,1000", help="shards-rerun: shard counts")
    parser.add_argument("--per-shard", type=int, default=10, help="shards-rerun: images per shard")
    parser.add_argument("--out", type=Path, help="also write the JSON here (scale: and a PNG)")


def run(args: argparse.Namespace) -> int:
    if args.what in SCALE:  # no torch to import for these
        from pipeline.bench import scale

        return scale.main(args)
    from pipeline.bench import suite

    return suite.main(args)
