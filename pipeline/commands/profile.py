"""`ladder profile`: per-layer shapes, activation memory, params and MACs."""

from __future__ import annotations

import argparse
import json

from lightning_modules.builder_keys import STEMS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "arch", help="an architecture: resnet18, efficientnet_b0, ... (a wrong name lists them all)"
    )
    parser.add_argument(
        "--resolution", type=int, help="input side in pixels (default: the model's native one)"
    )
    parser.add_argument("--width", type=float, help="width multiplier (efficientnet, mobilenetv2)")
    parser.add_argument("--depth", type=float, help="depth multiplier (efficientnet)")
    parser.add_argument(
        "--stem", choices=STEMS, help="cifar: the entrance for 28-32 px inputs (default imagenet)"
    )
    parser.add_argument("--classes", type=int, default=1000, help="output classes (default 1000)")
    parser.add_argument("--in-chans", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    from pipeline.report.profile import profile_arch

    result = profile_arch(
        args.arch, resolution=args.resolution, stem=args.stem, width=args.width,
        depth=args.depth, classes=args.classes, in_chans=args.in_chans,
    )  # fmt: skip
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.table())
    return 0
