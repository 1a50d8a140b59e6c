"""LightningDataModule over the WebDataset shards written by `ladder shards`.

Who reads what. A "reader" is one DataLoader worker of one DDP rank. Ownership is a pure
function of the shard index and of each sample's global index (its position in the
manifest's shard order), so readers never overlap whatever order they read in:
  - train: ranks split by shard when there are at least as many shards as ranks, and
    workers split their rank's shards when each rank has at least as many as workers;
    a level with too few shards splits by sample instead (each reader then reads the
    shards and keeps every k-th sample), so tiny datasets work with any number of readers.
  - val: ranks always split by sample (global index modulo world size) so their sample
    counts differ by at most one; workers split by shard when there are enough shards.

Epoch length, fixed from the manifest so every DDP rank runs the same number of steps and
none waits forever in a collective at the end of an epoch:
  - train: each rank yields exactly floor(train count / world size / batch size) full
    batches. Readers cycle through their samples (shuffled shard order, shuffle buffer),
    so a rank with fewer samples than others repeats some instead of stopping early.
  - val: each rank yields ceil(floor(val count / world size) / batch size) batches, the
    last one possibly partial, and sees each sample at most once; a rank holding one
    sample more than floor(...) may drop it. With one process every val sample is seen
    exactly once. Val batches are re-formed in the main process so that worker tails do
    not change the count.

Randomness (shard order, shuffle buffer, crops) comes from torch's RNG inside each
worker, so `pytorch_lightning.seed_everything` makes a run reproducible and every epoch
still differs.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
import webdataset as wds
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform

from lightning_modules.errors import InputError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def load_manifest(data_dir: str | Path) -> dict:
    """The manifest of a complete shard folder; the InputError names the folder."""
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise InputError(f"{data_dir}: no {MANIFEST}; build shards with `ladder shards`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error})") from error
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: format_version {manifest.get('format_version')!r}, expected 1")
    if not manifest.get("complete"):
        raise InputError(f"{path}: the shards are incomplete; rerun `ladder shards` to finish")
    return manifest


@dataclass(frozen=True)
class ReaderSplit:
    """How one split's shards are divided among `world_size` ranks x `num_workers` workers."""

    world_size: int
    num_workers: int
    ranks_by_shard: bool
    workers_by_shard: bool

    @classmethod
    def plan(cls, num_shards: int, world_size: int, num_workers: int, *, training: bool):
        """Split by shard where every reader gets at least one, else by sample (see top)."""
        ranks_by_shard = training and num_shards >= world_size
        shards_per_rank = num_shards // world_size if ranks_by_shard else num_shards
        return cls(world_size, num_workers, ranks_by_shard, shards_per_rank >= num_workers)

    def _levels(self, rank: int, worker: int, by_shard: bool) -> list[tuple[int, int]]:
        """(modulus, residue) pairs, rank level first, that an index must satisfy in turn."""
        levels = []
        if self.ranks_by_shard == by_shard:
            levels.append((self.world_size, rank))
        if self.workers_by_shard == by_shard:
            levels.append((self.num_workers, worker))
        return levels

    def owns_shard(self, shard: int, rank: int, worker: int) -> bool:
        return _satisfies(shard, self._levels(rank, worker, by_shard=True))

    def owns_sample(self, sample: int, rank: int, worker: int) -> bool:
        return _satisfies(sample, self._levels(rank, worker, by_shard=False))


def _satisfies(index: int, levels: list[tuple[int, int]]) -> bool:
    for modulus, residue in levels:
        if index % modulus != residue:
            return False
        index //= modulus
    return True


@dataclass(frozen=True)
class ShardReader:
    """The pipeline source: the samples one reader owns, read tar by tar.

    Runs inside each DataLoader worker, which is where the worker index becomes known.
    """

    urls: tuple[str, ...]
    counts: tuple[int, ...]
    split: ReaderSplit
    rank: int
    training: bool  # shuffle the shard order and cycle forever (the epoch is cut outside)

    def owned(self, worker: int) -> list[tuple[int, list[int]]]:
        """(shard index, owned positions inside it) for every shard this reader reads."""
        owned, offset = [], 0
        for shard, count in enumerate(self.counts):
            if self.split.owns_shard(shard, self.rank, worker):
                positions = [
                    i for i in range(count) if self.split.owns_sample(offset + i, self.rank, worker)
                ]
                owned.append((shard, positions))
            offset += count
        return [(shard, positions) for shard, positions in owned if positions]

    def __call__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        owned = self.owned(info.id if info else 0)
        rng = random.Random(_torch_seed())
        while owned:
            if self.training:
                rng.shuffle(owned)
            for shard, positions in owned:
                wanted = set(positions)
                samples = wds.tarfile_to_samples()(iter([{"url": self.urls[shard]}]))
                yield from (s for i, s in enumerate(samples) if i in wanted)
            if not self.training:
                return


def _torch_seed() -> int:
    """A seed from torch's RNG: per worker, per epoch, and fixed by `seed_everything`."""
    return int(torch.randint(2**62, ()).item())


def _shuffled(samples: Iterator, buffer: int) -> Iterator:
    return wds.shuffle(buffer, seed=_torch_seed())(samples)


def _collate(samples: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*samples, strict=True)
    return torch.stack(images), torch.as_tensor(labels, dtype=torch.long)


def _convert_then(mode: str, transform: Callable, image: Image.Image) -> torch.Tensor:
    return transform(image.convert(mode))


class ShardDataModule(pl.LightningDataModule):
    """Train/val loaders over a `ladder shards` folder, for any resolution and in_chans.

    `rank`/`world_size` are used when no Trainer is attached (tests, Ray without
    Lightning's strategy); with a Trainer its `global_rank`/`world_size` win.
    """

    def __init__(
        self,
        data_dir: str | Path,
        resolution: int = 224,
        batch_size: int = 64,
        loader_workers: int = 2,
        in_chans: int = 3,
        crop_pct: float = 0.875,
        min_crop: float = 0.08,
        hflip: float = 0.5,
        shuffle_buffer: int = 1000,
        augment: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        if in_chans not in (1, 3):
            raise InputError(f"in_chans {in_chans}: expected 1 (grayscale) or 3 (RGB)")
        self.data_dir = Path(data_dir)
        self.manifest = load_manifest(data_dir)
        self.resolution = resolution
        self.batch_size = batch_size
        self.loader_workers = loader_workers
        self.in_chans = in_chans
        self.crop_pct = crop_pct
        self.min_crop = min_crop
        self.hflip = hflip
        self.shuffle_buffer = shuffle_buffer
        self.augment = augment
        self.rank = rank
        self.world_size = world_size

    @property
    def classes(self) -> list[str]:
        return self.manifest["classes"]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def placement(self) -> tuple[int, int]:
        """(rank, world size): the Trainer's, else the explicit ones, else torch.distributed's."""
        if self.trainer is not None:
            return self.trainer.global_rank, self.trainer.world_size
        if self.world_size is not None:
            return self.rank or 0, self.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def transform(self, is_training: bool) -> Callable[[Image.Image], torch.Tensor]:
        """PIL image (any mode) -> normalised (in_chans, resolution, resolution) tensor.

        Train: RandomResizedCrop (area fraction `min_crop`..1) + horizontal flip with
        probability `hflip` (timm). Small or mirror-sensitive data (digits) wants a larger
        `min_crop` and no flip. Eval, or train without augment:
        resize to resolution / crop_pct, then center crop.
        """
        mean, std = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
        if self.in_chans == 1:  # grayscale: the average of the RGB statistics
            mean, std = (sum(mean) / 3,), (sum(std) / 3,)
        transform = create_transform(
            input_size=(self.in_chans, self.resolution, self.resolution),
            is_training=is_training and self.augment,
            color_jitter=None,
            scale=(self.min_crop, 1.0),
            hflip=self.hflip,
            crop_pct=self.crop_pct,
            mean=mean,
            std=std,
        )
        return partial(_convert_then, "L" if self.in_chans == 1 else "RGB", transform)

    def batches_per_epoch(self, split: str) -> int:
        """Batches each rank yields per epoch (see the module docstring for the rule)."""
        count = self.manifest["counts"].get(split, 0)
        _, world_size = self.placement()
        if split == "train":
            return count // world_size // self.batch_size
        return math.ceil(count // world_size / self.batch_size)

    def train_dataloader(self) -> wds.WebLoader:
        return self._loader("train")

    def val_dataloader(self) -> wds.WebLoader:
        return self._loader("val")

    def _loader(self, split: str) -> wds.WebLoader:
        batches = self.batches_per_epoch(split)
        if batches == 0:
            _, world_size = self.placement()
            raise InputError(
                f"{self.data_dir}: {split} has {self.manifest['counts'].get(split, 0)} samples; "
                f"needs at least {world_size} rank(s) x batch size {self.batch_size}"
            )
        training = split == "train"
        rank, world_size = self.placement()
        workers = max(1, self.loader_workers)
        records = [r for r in self.manifest["shards"][split] if r["count"]]  # all-bad shards
        reader = ShardReader(
            urls=tuple(str(self.data_dir / r["name"]) for r in records),
            counts=tuple(r["count"] for r in records),
            split=ReaderSplit.plan(len(records), world_size, workers, training=training),
            rank=rank,
            training=training,
        )
        stages = [reader]
        if training and self.shuffle_buffer > 1:
            stages.append(partial(_shuffled, buffer=self.shuffle_buffer))
        stages += [
            wds.decode("pill" if self.in_chans == 1 else "pil"),
            wds.to_tuple("jpg", "cls"),
            wds.map_tuple(self.transform(is_training=training), int),
            wds.batched(self.batch_size, collation_fn=_collate, partial=not training),
        ]
        dataset = wds.DataPipeline(*stages)
        loader = wds.WebLoader(
            dataset,
            batch_size=None,
            num_workers=self.loader_workers,
            persistent_workers=self.loader_workers > 0,
        )
        if training:
            # each worker with samples yields its share; the loader cuts at exactly `batches`
            active = sum(1 for worker in range(workers) if reader.owned(worker))
            dataset.with_epoch(math.ceil(batches / active))
        else:
            loader = loader.unbatched().batched(self.batch_size, collation_fn=_collate)
        return loader.slice(batches).with_length(batches, silent=True)
