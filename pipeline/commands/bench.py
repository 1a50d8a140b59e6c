"""`ladder bench`: benchmarks (JSON): data loading, ...."""

from __future__ import annotations

import argparse
from pathlib import Path

BENCHMARKS = ("data", "model")  # the keys of pipeline.bench.suite.BENCHMARKS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=BENCHMARKS, help="what to benchmark")
    parser.add_argument("--data", type=Path, help="data: shard folder (from `ladder shards`)")
    parser.add_argument("--src", type=Path, help="data: the original tree (train/<class>/...)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="data: N synthetic photos")
    parser.add_argument("--resolutions", default="224,128,64", help="data: comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="data: measurements per variant")
    parser.add_argument("--arch", default="lenet5,resnet18", help="model: comma-separated archs")
    parser.add_argument("--steps", type=int, default=5, help="model: timed steps per mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--loader-workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--resolution", type=int, default=224, help="model: input size")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="model: channels-last memory format (auto: on CUDA)")  # fmt: skip
    parser.add_argument("--compile", action="store_true", help="model: torch.compile each model")
    parser.add_argument("--batches", type=int, default=20, help="data: timed batches per loader")
    parser.add_argument("--out", type=Path, help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    from pipeline.bench import suite

    return suite.main(args)
