"""`ladder gpu-check`: model speed vs timm's figures, and whether a GPU is fed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.bench.curves import publish  # stdlib only: `--help` stays light


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu", action="store_true", help="toy sizes (after |), which need no GPU")
    parser.add_argument("--arch", help="speed: models [resnet50,efficientnet_b0 | lenet5]")
    parser.add_argument("--train-arch", help="feeding: the model trained [resnet50 | lenet5]")
    parser.add_argument("--resolution", type=int, help="[224 | 32]")
    parser.add_argument("--batch-size", type=int, help="[256 | 16]")
    parser.add_argument("--steps", type=int, help="speed: timed steps per mode [20 | 2]")
    parser.add_argument("--photos", type=int, help="feeding: synthetic photos [8192 | 320]")
    parser.add_argument("--loader-workers", type=int, help="[CPUs - 2 | 1]")
    parser.add_argument("--out", type=Path, help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    from pipeline.bench.gpu_check import GpuCheck, check_gpu

    result = check_gpu(GpuCheck(
        cpu=args.cpu, arch=args.arch, train_arch=args.train_arch, resolution=args.resolution,
        batch_size=args.batch_size, steps=args.steps, photos=args.photos,
        loader_workers=args.loader_workers,
    ))  # fmt: skip
    publish(json.dumps(result.report, indent=1), result.report, args.out)
    return 0 if result.passed else 1
