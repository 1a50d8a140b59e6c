"""Session fixtures: real image trees and real shards, built once and shared by all tests."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main

IMAGENET_CLASSES = ("n01440764", "n01443537", "n01484850")
IMAGE_SIZES = ((40, 30), (64, 64), (300, 200))  # (width, height)
TRAIN_PER_CLASS = 20
VAL_PER_CLASS = 6


def pytest_configure(config: pytest.Config) -> None:
    """Each pytest-xdist worker's share of the cores as its torch threads (`make test`: 2
    workers, 1 thread each, on 2 cores). torch's default, a thread a core, put 4 threads
    on 2 cores, and OpenMP threads spinning against each other made a training test
    3-4x slower beside another worker (105 s against 25-31 s alone). `share_cores` and a
    test's subprocesses read the share from `OMP_NUM_THREADS`."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if "PYTEST_XDIST_WORKER" in os.environ and workers > 1:
        cores = len(os.sched_getaffinity(0))
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // workers)))


def noise_jpeg(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """A real RGB JPEG of random noise; every image differs, so pixels identify it."""
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="session")
def imagenet_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ImageNet-layout folder: train/<synset>/*.JPEG and val/<synset>/*.JPEG.

    3 synsets (IMAGENET_CLASSES), 20 train and 6 val images per class, cycling through
    sizes 40x30, 64x64 and 300x200, named `<synset>_<i>.JPEG`. Plus two bad files that
    sharding must skip and report: `train/n01440764/n01440764_corrupt.JPEG` (random
    bytes) and `val/n01443537/n01443537_truncated.JPEG` (first half of a real JPEG).
    """
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split, per_class in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        for synset in IMAGENET_CLASSES:
            folder = root / split / synset
            folder.mkdir(parents=True)
            for i in range(per_class):
                jpeg = noise_jpeg(rng, IMAGE_SIZES[i % len(IMAGE_SIZES)])
                (folder / f"{synset}_{i}.JPEG").write_bytes(jpeg)
    corrupt = root / "train" / IMAGENET_CLASSES[0] / f"{IMAGENET_CLASSES[0]}_corrupt.JPEG"
    corrupt.write_bytes(rng.bytes(2000))
    whole = noise_jpeg(rng, IMAGE_SIZES[2])
    truncated = root / "val" / IMAGENET_CLASSES[1] / f"{IMAGENET_CLASSES[1]}_truncated.JPEG"
    truncated.write_bytes(whole[: len(whole) // 2])
    return root


@pytest.fixture(scope="session")
def imagenet_shards(imagenet_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`imagenet_tree` sharded with --shard-size 16 (2 workers): 4 train + 2 val shards,
    60 train and 18 val samples, the two bad files skipped. Returns the shard folder."""
    out = tmp_path_factory.mktemp("imagenet_shards")
    argv = ["shards", "--src", str(imagenet_tree), "--out", str(out), "--shard-size", "16"]
    assert main([*argv, "--workers", "2"]) == 0
    return out


@pytest.fixture(scope="session")
def digits_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits demo (`ladder shards --demo digits`, default settings): 32x32 grayscale
    JPEGs, 10 classes, 1437 train + 360 val samples. Returns the shard folder."""
    out = tmp_path_factory.mktemp("digits_shards")
    assert main(["shards", "--demo", "digits", "--out", str(out), "--workers", "2"]) == 0
    return out
