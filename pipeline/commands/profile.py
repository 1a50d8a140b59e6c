"""`ladder profile`: per-layer shapes, activation memory, params and MACs."""

from __future__ import annotations

import argparse
import json

from pipeline.cli_flags import add_model_flags, model_from


def configure(parser: argparse.ArgumentParser) -> None:
    add_model_flags(parser, arch_positional=True)
    parser.add_argument("--classes", type=int, default=1000, help="output classes (default 1000)")
    parser.add_argument("--in-chans", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    from pipeline.report.profile import profile_spec

    result = profile_spec(model_from(args), args.classes, args.in_chans)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.table())
    return 0
