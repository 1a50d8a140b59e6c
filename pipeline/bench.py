"""`ladder bench WHAT`: benchmarks that print JSON (and optionally write it to `--out`).

`ladder bench data --data DIR` measures images/s of three ways to read the same train set:
  shards        ShardDataModule's train loader (the training path)
  image_folder  torchvision ImageFolder over the shards' JPEGs extracted to a temp tree,
                with the same transforms, batch size and workers
  decode_only   one process decoding the tars' JPEGs with PIL, no transforms: the ceiling
                one core gets before any augmentation
The first batch (worker start-up) is not timed; the loaders restart as many epochs as
`--batches` needs.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from lightning_modules.data import ShardDataModule
from pipeline.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=sorted(BENCHMARKS), help="what to benchmark")
    parser.add_argument("--data", type=Path, help="shard folder (from `ladder shards`)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batches", type=int, default=50, help="timed batches per loader")
    parser.add_argument("--out", type=Path, help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    result = BENCHMARKS[args.what](args)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


def bench_data(args: argparse.Namespace) -> dict:
    """images/s of the shard loader, an ImageFolder loader and a decode-only loop."""
    if args.data is None:
        raise UsageError("--data DIR is required for `bench data`")
    for flag in ("batch_size", "resolution", "batches"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: expected >= 1")
    if args.workers < 0:
        raise UsageError(f"--workers {args.workers}: expected >= 0")
    try:
        module = ShardDataModule(
            args.data,
            resolution=args.resolution,
            batch_size=args.batch_size,
            num_workers=args.workers,
            rank=0,
            world_size=1,
        )
        shard_loader = module.train_dataloader()
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--data {error}") from error
    urls = [str(args.data / r["name"]) for r in module.manifest["shards"]["train"]]
    images = args.batches * args.batch_size
    with tempfile.TemporaryDirectory(prefix="ladder-bench-") as tree:
        extract_image_folder(urls, Path(tree))
        folder_loader = DataLoader(
            ImageFolder(tree, transform=module.transform(is_training=True)),
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            drop_last=True,
            persistent_workers=args.workers > 0,
        )
        rates = {
            "shards": images / _seconds_for(lambda: iter(shard_loader), args.batches),
            "image_folder": images / _seconds_for(lambda: iter(folder_loader), args.batches),
            "decode_only": images / _seconds_for(lambda: _decoded(urls), images),
        }
    return {
        "benchmark": "data",
        "data": str(args.data),
        "batch_size": args.batch_size,
        "workers": args.workers,
        "resolution": args.resolution,
        "timed_batches": args.batches,
        "images_per_s": {name: round(rate, 1) for name, rate in rates.items()},
    }


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict]] = {"data": bench_data}


def extract_image_folder(urls: list[str], root: Path) -> None:
    """Write the shards' JPEGs as root/<class index>/<key>.jpg, an ImageFolder tree."""
    for sample in wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples()):
        folder = root / f"{int(sample['cls']):06d}"  # zero-padded: sorted name order = index
        folder.mkdir(exist_ok=True)
        (folder / f"{sample['__key__'].replace('/', '_')}.jpg").write_bytes(sample["jpg"])


def _decoded(urls: list[str]) -> Iterator[Image.Image]:
    for sample in wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples()):
        yield Image.open(io.BytesIO(sample["jpg"])).convert("RGB")


def _seconds_for(epoch: Callable[[], Iterable], items: int) -> float:
    """Seconds to draw `items` items after a first untimed one, restarting epochs as needed."""
    stream = _epochs(epoch)
    next(stream)
    start = time.perf_counter()
    for _ in islice(stream, items):
        pass
    return time.perf_counter() - start


def _epochs(epoch: Callable[[], Iterable]) -> Iterator:
    while True:
        yield from epoch()
