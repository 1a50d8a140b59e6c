"""`ladder bench WHAT`: benchmarks that print JSON (and optionally write it to `--out`).

`ladder bench model` is pipeline/bench/model_speed.py's; the data benchmark is here
(`bench_data(DataBench(...))`, the call a notebook makes too).

`ladder bench data` measures images/s of ShardDataModule's train loader (the training
path) against two references, side by side: the variants are measured in turns, `--rounds`
times, so that load from other processes hits them alike; medians and per-round ratios are
reported. So is the CPU time per image of all the processes of a variant (from /proc, so
Linux): on a machine that others load too it tells what images/s cannot, what each
variant costs and so what it would deliver on otherwise idle cores.
  shards        the shard loader over `--data`
  image_folder  torchvision ImageFolder over `--src`/train (the original photos, as a user who
                never sharded would read them; default: the shards' JPEGs extracted to a
                temp tree) with timm's standard float transforms, same batch size and workers
  limit         `--loader-workers` processes doing only the shard loader's per-sample work (decode
                + augment of in-memory JPEGs), no loader: what the workers could deliver
`--synthetic N` makes its own data instead: N ImageNet-like 500x375 q90 photos (`photo_jpeg`)
in 10 classes, sharded with the default `--max-size`. The JSON lists the goals of issue 12
with the measured ratio and pass/fail: shards >= 0.95 of the limit at every resolution, and
shards >= 1.5x ImageFolder above 128 px, >= 3x at 128 px and below.
Each loader is started afresh for each measurement and its first batches (worker start-up,
prefetch) are not timed; it restarts as many epochs as `--batches` needs."""

from __future__ import annotations

import gc
import io
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from PIL import Image
from timm.data import create_transform
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from lightning_modules.data import ShardDataModule
from lightning_modules.errors import InputError
from pipeline.data import DEFAULT_MAX_SIZE
from pipeline.data.layouts import folder_samples
from pipeline.data.shards import write_shards

PHOTO_SIZE = (500, 375)  # ImageNet's typical width x height

SYNTHETIC_CLASSES = 10

SYNTHETIC_SHARD_SIZE = 128  # several shards per worker, as with a real dataset

UNITS = ("images_per_s", "cpu_ms_per_image")

GOAL_LIMIT = 0.95  # shard loader / limit, at every resolution

GOAL_OVER_FOLDER = {"above 128 px": 1.5, "128 px and below": 3.0}  # shards / ImageFolder


@dataclass(frozen=True)
class DataBench:
    """What `ladder bench data` measures: shards at `data`, or `synthetic` photos of its own
    (exactly one), and how; typed, so that a notebook makes the same call as the command."""

    resolutions: tuple[int, ...] = (224, 128, 64)
    data: Path | None = None
    src: Path | None = None  # the original tree (train/<class>/...); None: the shards' JPEGs
    synthetic: int | None = None
    batch_size: int = 64
    loader_workers: int = 2
    batches: int = 20  # timed batches per loader
    rounds: int = 3


def resolutions_of(text: str) -> tuple[int, ...]:
    """The sizes a comma-separated `--resolutions` names, each >= 1."""
    try:
        resolutions = tuple(int(size) for size in text.split(","))
    except ValueError:
        resolutions = ()
    if not resolutions or min(resolutions) < 1:
        raise InputError(f"--resolutions {text!r}: expected sizes like 224,128,64")
    return resolutions


def bench_data(request: DataBench) -> dict:
    """images/s of the shard loader, ImageFolder and the workers' limit, and the goals."""
    _check(request)
    if request.synthetic is None:
        return _bench_data_on(request, request.data, request.src)
    with tempfile.TemporaryDirectory(prefix="ladder-bench-") as folder:
        src, data = synthetic_shards(Path(folder), request.synthetic, request.loader_workers)
        result = _bench_data_on(request, data, src)
    photos = f"{request.synthetic} synthetic {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} photos"
    return result | {"data": photos}


def synthetic_shards(folder: Path, count: int, workers: int) -> tuple[Path, Path]:
    """(photos, shards): `count` synthetic photos under folder/photos, sharded (train only)
    under folder/shards with the default `--max-size`."""
    src, data = folder / "photos", folder / "shards"
    write_photo_tree(src, count)
    write_shards(
        data,
        folder_samples(src),
        max_size=DEFAULT_MAX_SIZE,
        shard_size=SYNTHETIC_SHARD_SIZE,
        seed=0,
        workers=max(1, workers),
        overwrite=False,
    )
    return src, data


def _check(request: DataBench) -> None:
    """InputError, naming the flag, for a missing or bad setting."""
    if (request.data is None) == (request.synthetic is None):
        raise InputError("`bench data` needs --data DIR (shards) or --synthetic N")
    for flag in ("batch_size", "batches", "rounds", "synthetic"):
        if (getattr(request, flag) or 1) < 1:
            raise InputError(f"--{flag.replace('_', '-')} {getattr(request, flag)}: expected >= 1")
    if request.loader_workers < 0:
        raise InputError(f"--loader-workers {request.loader_workers}: expected >= 0")
    if request.src is not None and not (request.src / "train").is_dir():
        raise InputError(f"--src {request.src}: no train/ folder (train/<class>/<image>)")


def _bench_data_on(request: DataBench, data: Path, src: Path | None) -> dict:
    """Measure every variant at every resolution in turns, `request.rounds` times."""
    sizes = request.resolutions
    try:
        modules = {
            size: ShardDataModule(
                data,
                size,
                batch_size=request.batch_size,
                loader_workers=request.loader_workers,
                world_size=1,
            )
            for size in sizes
        }
        modules[sizes[0]].train_dataloader()  # too few samples for one batch: ValueError
    except InputError as error:
        raise InputError(f"--data {error}") from None
    urls = [str(data / r["name"]) for r in modules[sizes[0]].manifest["shards"]["train"]]
    jpegs = [sample["jpg"] for sample in islice(_tar_samples(urls), 1024)]
    with tempfile.TemporaryDirectory(prefix="ladder-bench-") as tree:
        if src is None:
            extract_image_folder(urls, Path(tree))
        root = src / "train" if src is not None else Path(tree)
        variants = {size: _variants(request, m, root, jpegs) for size, m in modules.items()}
        measured = {size: {name: [] for name in variants[size]} for size in sizes}
        load = os.getloadavg()[0]
        for _ in range(request.rounds):
            for size in sizes:
                for name, measure in variants[size].items():
                    measured[size][name].append(measure())
    return {
        "benchmark": "data",
        "data": str(data),
        "src": str(src) if src is not None else "the shards' JPEGs, extracted",
        "batch_size": request.batch_size,
        "workers": request.loader_workers,
        "timed_batches": request.batches,
        "rounds": request.rounds,
        "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],  # before, after
        **_medians(measured),
        "goals": _goals(measured),
    }


def _medians(measured: dict[int, dict[str, list[tuple[float, float]]]]) -> dict:
    """Each variant's median over the rounds, per unit and resolution."""
    return {
        unit: {
            str(size): {
                name: round(statistics.median(run[i] for run in runs), 2)
                for name, runs in by_name.items()
            }
            for size, by_name in measured.items()
        }
        for i, unit in enumerate(UNITS)
    }


def _variants(
    request: DataBench, module: ShardDataModule, root: Path, jpegs: list[bytes]
) -> dict[str, Callable[[], float]]:
    """name -> a function measuring that variant once (images/s) at `module.resolution`."""
    mean, std = module.mean_std
    reference = create_transform(
        input_size=(3, module.resolution, module.resolution),
        is_training=True,
        color_jitter=None,
        scale=(module.min_crop, 1.0),
        hflip=module.hflip,
        mean=mean,
        std=std,
    )
    timing = {
        "batches": request.batches,
        "batch_size": request.batch_size,
        "workers": request.loader_workers,
    }

    def image_folder() -> DataLoader:
        return DataLoader(
            ImageFolder(str(root), transform=reference),
            batch_size=request.batch_size,
            shuffle=True,
            num_workers=request.loader_workers,
            drop_last=True,
            persistent_workers=request.loader_workers > 0,
        )

    images = request.batches * request.batch_size
    limit = (jpegs, module.transform(True), request.loader_workers, images)
    return {
        "shards": partial(_loader_rate, module.train_dataloader, **timing),
        "image_folder": partial(_loader_rate, image_folder, **timing),
        "limit": partial(_limit_rate, *limit),
    }


def _goals(measured: dict[int, dict[str, list[tuple[float, float]]]]) -> list[dict]:
    """Each goal at each resolution: the median of the per-round ratios, and pass/fail.

    `ratio` compares images/s, the goal itself; `cpu_ratio` compares CPU time per image,
    which is what the rates would compare as on otherwise idle cores (when other work
    shares the machine, as on a developer's box, the two differ).
    """
    goals = []
    for size, by_name in measured.items():
        band = "above 128 px" if size > 128 else "128 px and below"
        for reference, target, goal in (
            ("limit", GOAL_LIMIT, f"shard loader >= {GOAL_LIMIT} of the workers' limit"),
            ("image_folder", GOAL_OVER_FOLDER[band], f"shards / ImageFolder, {band}"),
        ):
            pairs = list(zip(by_name["shards"], by_name[reference], strict=True))
            ratios = [shards[0] / other[0] for shards, other in pairs]
            ratio = statistics.median(ratios)
            goals.append(
                {
                    "goal": goal,
                    "resolution": size,
                    "target": target,
                    "ratio": round(ratio, 3),
                    "ratios_per_round": [round(r, 3) for r in ratios],
                    "pass": ratio >= target,
                    "cpu_ratio": round(statistics.median(o[1] / s[1] for s, o in pairs), 3),
                }
            )
    return goals


def _loader_rate(
    make_loader: Callable[[], Iterable], batches: int, batch_size: int, workers: int
) -> tuple[float, float]:
    """(images/s, CPU ms per image of all its processes) of a new loader over `batches`
    batches, after 2 x workers + 1 untimed ones (start-up, and the batches its workers
    prefetched meanwhile); its workers end after."""
    loader = make_loader()
    stream = _epochs(loader)
    for _ in islice(stream, 2 * workers + 1):
        pass
    start, cpu = time.perf_counter(), _cpu_seconds()
    for _ in islice(stream, batches):
        pass
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    del stream, loader
    gc.collect()  # ends the workers now, not while the next variant is measured
    images = batches * batch_size
    return images / seconds, 1e3 * cpu / images


def _cpu_seconds() -> float:
    """CPU time of this process and of its live children (the loader workers), from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(fields[1]) == os.getpid():  # parent pid; then utime, stime
            ticks += int(fields[11]) + int(fields[12])
    return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


def _limit_rate(
    jpegs: list[bytes], transform: Callable, workers: int, images: int
) -> tuple[float, float]:
    """(images/s, CPU ms per image) of `workers` processes (at least one) running
    `transform` on opened JPEGs side by side, with no loader around them: the most the
    loader's workers could give."""
    processes = max(1, workers)
    context = multiprocessing.get_context("fork")  # the work travels without pickling
    with context.Pool(processes, _set_limit_work, (jpegs, transform)) as pool:
        timed = pool.map(_time_limit_work, [images // processes + 1] * processes, chunksize=1)
    count = sum(count for count, _, _ in timed)
    return sum(n / seconds for n, seconds, _ in timed), 1e3 * sum(c for _, _, c in timed) / count


_limit_work: tuple = ()  # (jpegs, transform), set in each limit process


def _set_limit_work(jpegs: list[bytes], transform: Callable) -> None:
    global _limit_work
    torch.set_num_threads(1)  # as in a DataLoader worker
    _limit_work = (jpegs, transform)


def _time_limit_work(count: int) -> tuple[int, float, float]:
    jpegs, transform = _limit_work
    transform(Image.open(io.BytesIO(jpegs[0])))  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        transform(Image.open(io.BytesIO(jpegs[i % len(jpegs)])))
    return count, time.perf_counter() - start, time.process_time() - cpu


def extract_image_folder(urls: list[str], root: Path) -> None:
    """Write the shards' JPEGs as root/<class index>/<key>.jpg, an ImageFolder tree."""
    for sample in _tar_samples(urls):
        folder = root / f"{int(sample['cls']):06d}"  # zero-padded: sorted name order = index
        folder.mkdir(exist_ok=True)
        (folder / f"{sample['__key__'].replace('/', '_')}.jpg").write_bytes(sample["jpg"])


def _tar_samples(urls: list[str]) -> Iterator[dict]:
    return iter(wds.DataPipeline(wds.SimpleShardList(urls), wds.tarfile_to_samples()))


def _epochs(loader: Iterable) -> Iterator:
    while True:
        yield from loader


def photo_jpeg(rng: np.random.Generator, size: tuple[int, int] = PHOTO_SIZE) -> bytes:
    """A q90 JPEG that costs what a photo costs to decode: smooth colour fields, texture and
    sensor-like noise, ~85 KB at 500x375. Pure noise would compress ~3x worse and decode
    slower than photos, flattering whichever loader decodes fewer pixels."""
    width, height = size
    fields = [
        Image.fromarray(
            rng.integers(0, 256, (max(1, height // cell), max(1, width // cell), 3), np.uint8)
        ).resize(size, Image.Resampling.BICUBIC)
        for cell in (64, 2)
    ]
    noise = rng.normal(0, 8, (height, width, 3))
    pixels = 0.75 * np.asarray(fields[0]) + 0.25 * np.asarray(fields[1]) + noise
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def write_photo_tree(root: Path, count: int, seed: int = 0) -> None:
    """`count` photos as root/train/class_<k>/photo_<i>.JPEG, round-robin over 10 classes."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / "train" / f"class_{i % SYNTHETIC_CLASSES}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"photo_{i:05d}.JPEG").write_bytes(photo_jpeg(rng))
