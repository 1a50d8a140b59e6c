"""`ladder bench WHAT`: benchmarks that print JSON (and optionally write it to `--out`).

`ladder bench model --arch A[,B...]` measures each architecture's training and inference
throughput (images/s) at `--resolution` and `--batch-size`, its latency at batch 1, on
this machine's device (CUDA if present, with bf16 autocast as in training; else CPU
fp32), the MAC rate that implies, and peak memory: the CUDA allocator's peak on a GPU,
the process's peak RSS growth on a CPU. It is how a user sees what each rung of the
ladder costs in time, not only in MACs. The measuring functions are
`lightning_modules.measure`'s, which sweep trials and `ladder sweep`'s estimate share.

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

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from lightning_modules.architectures import build_model, list_models
from lightning_modules.data import ShardDataModule
from lightning_modules.errors import InputError
from lightning_modules.measure import (
    PeakMemory,
    count_macs,
    infer_images_per_sec,
    latency_ms,
    train_images_per_sec,
)
from lightning_modules.run import default_precision


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=sorted(BENCHMARKS), help="what to benchmark")
    parser.add_argument("--data", type=Path, help="data: shard folder (from `ladder shards`)")
    parser.add_argument("--arch", default="lenet5,resnet18", help="model: comma-separated archs")
    parser.add_argument("--steps", type=int, default=5, help="model: timed steps per mode")
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
        raise InputError("--data DIR is required for `bench data`")
    for flag in ("batch_size", "resolution", "batches"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} {getattr(args, flag)}: expected >= 1")
    if args.workers < 0:
        raise InputError(f"--workers {args.workers}: expected >= 0")
    try:
        module = ShardDataModule(
            args.data,
            resolution=args.resolution,
            batch_size=args.batch_size,
            loader_workers=args.workers,
            rank=0,
            world_size=1,
        )
        shard_loader = module.train_dataloader()
    except InputError as error:
        raise InputError(f"--data {error}") from None
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


def bench_model(args: argparse.Namespace) -> dict:
    """Train-step and inference images/s, MAC rate and peak memory of each `--arch`."""
    archs = [name.strip() for name in args.arch.split(",") if name.strip()]
    unknown = [name for name in archs if name not in list_models()]
    if unknown or not archs:
        raise InputError(f"--arch {args.arch!r}: expected names from {', '.join(list_models())}")
    if args.steps < 1 or args.batch_size < 1:
        raise InputError("--steps and --batch-size: expected >= 1")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "benchmark": "model",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "precision": default_precision(),
        "resolution": args.resolution,
        "batch_size": args.batch_size,
        "timed_steps": args.steps,
        "models": [_bench_one(name, args, device) for name in archs],
    }


def _bench_one(arch: str, args: argparse.Namespace, device: torch.device) -> dict:
    model = build_model(arch).to(device)
    macs = count_macs(model, args.resolution)
    memory = PeakMemory(device).start()
    train_rate = train_images_per_sec(model, args.resolution, args.batch_size, steps=args.steps)
    infer_rate = infer_images_per_sec(model, args.resolution, args.batch_size, steps=args.steps)
    latency = latency_ms(model, args.resolution, steps=args.steps)
    return {
        "arch": arch,
        "params": sum(p.numel() for p in model.parameters()),
        "macs": macs,
        "train_images_per_s": round(train_rate, 2),
        "infer_images_per_s": round(infer_rate, 2),
        "latency_ms": round(latency, 2),  # batch 1
        "train_gmacs_per_s": round(3 * macs * train_rate / 1e9, 2),  # forward + 2x backward
        "peak_memory_mb": round(memory.bytes() / 2**20, 1),
    }


BENCHMARKS: dict[str, Callable[[argparse.Namespace], dict]] = {
    "data": bench_data,
    "model": bench_model,
}


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
