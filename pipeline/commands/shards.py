"""`ladder shards`: convert an ImageNet-layout folder to WebDataset shards.

A rerun into a finished `--out` keeps the shards whose name and size match its manifest
and rewrites the rest; `--verify` also compares every kept shard's sha256 (a full read),
for damage that left the size alone. pipeline/data/shards.py has the whole rerun rule.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lightning_modules.manifest import MANIFEST
from pipeline.data import DEFAULT_MAX_SIZE, DEFAULT_SHARD_SIZE, DEMOS, default_workers, idx


def configure(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--src", type=Path, help="ImageNet/ImageFolder layout (train/, val/) or 4 IDX files"
    )
    source.add_argument("--demo", choices=DEMOS, help="build a demo dataset instead")
    parser.add_argument(
        "--classes",
        help="IDX sources: class names, comma-separated, or a data set's "
        f"({', '.join(idx.CLASS_NAMES)}); default: the one the path names, else 0..N-1",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for shards + manifest")
    parser.add_argument(
        "--max-size", type=int, default=DEFAULT_MAX_SIZE, help="max shorter side (pixels)"
    )
    parser.add_argument(
        "--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="samples per shard"
    )
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--overwrite", action="store_true", help="replace shards found in --out")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="on a rerun, also check each kept shard's sha256 (reads them all), not only its size",
    )
    parser.add_argument("--seed", type=int, default=0, help="shuffle (and demo split) seed")


def run(args: argparse.Namespace) -> int:
    from pipeline.data.shards import ShardRequest, make_shards

    request = ShardRequest(
        out=args.out, src=args.src, demo=args.demo, classes=args.classes,
        max_size=args.max_size, shard_size=args.shard_size, workers=args.workers,
        overwrite=args.overwrite, verify=args.verify, seed=args.seed,
    )  # fmt: skip
    manifest = make_shards(request)
    counts = ", ".join(f"{n} {split}" for split, n in manifest["counts"].items())
    shards = sum(len(records) for records in manifest["shards"].values())
    print(
        f"{args.out}: {counts} samples in {shards} shards; "
        f"{len(manifest['skipped'])} files skipped (listed in {MANIFEST})"
    )
    return 0
