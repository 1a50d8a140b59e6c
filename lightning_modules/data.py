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

What a worker does per sample (`DecodeCrop`), so that a few CPU cores keep a GPU fed: in
training it draws the crop on the stored image size before decoding, lets libjpeg decode
at 1/2, 1/4 or 1/8 scale when the crop stays at least the output size (`draft_scale`),
resizes once; validation runs timm's eval transform, so an exported model scored with
timm's preprocessing gets the same pixels. Either way it hands over uint8. Batches travel
as uint8 (4x fewer bytes than float32); the data module's `on_after_batch_transfer` hook
normalises them on the model's device.

A recipe's extra augmentation is timm's, placed where it is cheapest: the AutoAugment /
RandAugment / AugMix policy (or torchvision's TrivialAugment) on each cropped PIL image in
the workers, as timm's `create_transform` places it; random erasing on the normalised
batch on the device (timm's `RandomErasing` takes whole batches).
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
import webdataset as wds
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.data.random_erasing import RandomErasing
from torch.utils.data import default_collate

from lightning_modules.augment import augment_policy
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest
from lightning_modules.shard_check import OPT_OUT, damaged_shards
from lightning_modules.shard_reader import ReaderSplit, ShardReader, read_tar, torch_seed
from lightning_modules.transforms import DecodeCrop


def channel_stats(in_chans: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the loader normalises with: ImageNet's per channel; grayscale gets the
    average of the RGB ones. An exported model's config.json records them (exported.py)."""
    mean, std = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
    if in_chans == 1:
        return (sum(mean) / 3,), (sum(std) / 3,)
    return tuple(mean), tuple(std)


def _shuffled(samples: Iterator, buffer: int) -> Iterator:
    return wds.shuffle(buffer, seed=torch_seed())(samples)


def _collate(samples: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images -> one uint8 (N, C, H, W) batch laid out channels-last, as decoded.

    Stacking the images in their decoded (H, W, C) order is a plain copy; reordering the
    channels here would cost more than the decode (the device does it in `normalize`).
    `default_collate` stacks straight into shared memory inside a worker, so the batch is
    not copied again on its way to the main process.
    """
    images, labels = zip(*samples, strict=True)
    stacked = default_collate([image.permute(1, 2, 0) for image in images])
    return stacked.permute(0, 3, 1, 2), torch.as_tensor(labels, dtype=torch.long)


def _decode_sample(transform: DecodeCrop, sample: dict) -> tuple[torch.Tensor, int]:
    """A raw tar sample (`jpg` or lossless `png`) -> (uint8 image, label), in one step: the
    image is opened, not decoded, so that `transform` can decode only as many pixels of a
    JPEG as its crop needs."""
    encoded = sample["jpg"] if "jpg" in sample else sample["png"]
    return transform(Image.open(io.BytesIO(encoded))), int(sample["cls"])


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
        pad_crop: int = 0,
        hflip: float = 0.5,
        auto_augment: str = "",
        re_prob: float = 0.0,
        shuffle_buffer: int = 1000,
        augment: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        allow_damaged: bool = False,
    ) -> None:
        super().__init__()
        if in_chans not in (1, 3):
            raise InputError(f"in_chans {in_chans}: expected 1 (grayscale) or 3 (RGB)")
        self.data_dir = Path(data_dir)
        self.manifest = load_manifest(data_dir)
        self.damaged = damaged_shards(self.data_dir, self.manifest)
        if self.damaged and not allow_damaged:
            more = f" (and {len(self.damaged) - 1} more)" if len(self.damaged) > 1 else ""
            raise InputError(
                f"{self.damaged[0]}{more}; rebuild the shards with `ladder shards`, or pass "
                f"{OPT_OUT} to train on what is readable"
            )
        self.resolution = resolution
        self.batch_size = batch_size
        self.loader_workers = loader_workers
        self.in_chans = in_chans
        self.crop_pct = crop_pct
        self.min_crop = min_crop
        self.pad_crop = pad_crop
        self.hflip = hflip
        self.policy = augment_policy(auto_augment, resolution, self.mean_std[0])
        self.re_prob = re_prob
        self.shuffle_buffer = shuffle_buffer
        self.augment = augment
        self.rank = rank
        self.world_size = world_size
        self._scaled_stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._torch_loaders: list[torch.utils.data.DataLoader] = []  # see `teardown`

    @property
    def classes(self) -> list[str]:
        return self.manifest["classes"]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def samples_seen(self) -> SamplesSeen | None:
        """With damaged shards allowed, the callback that says what each epoch could read:
        a damaged shard's whole samples are counted here, once."""
        if not self.damaged:
            return None
        readable = {
            split: sum(self._readable(record) for record in records)
            for split, records in self.manifest["shards"].items()
        }
        return SamplesSeen(readable, self.manifest["counts"])

    def _readable(self, record: dict) -> int:
        path = self.data_dir / record["name"]
        if not path.is_file():
            return 0
        if path.stat().st_size == record["size"]:
            return record["count"]
        return sum(1 for _ in read_tar(str(path)))

    def placement(self) -> tuple[int, int]:
        """(rank, world size): the Trainer's, else the explicit ones, else torch.distributed's."""
        if self.trainer is not None:
            return self.trainer.global_rank, self.trainer.world_size
        if self.world_size is not None:
            return self.rank or 0, self.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def transform(self, is_training: bool) -> DecodeCrop:
        """Opened (not yet loaded) image -> (in_chans, resolution, resolution) uint8 tensor.

        Train: RandomResizedCrop (area fraction `min_crop`..1), or with `pad_crop` the
        CIFAR papers' pad-and-crop, + horizontal flip with probability `hflip`, as timm's.
        Small or mirror-sensitive data (digits) wants a larger `min_crop` and no flip. Eval,
        or train without augment: timm's resize to resolution / crop_pct, then center crop
        (crop_pct 1.0: the whole image, which small images need: 0.875 cuts their borders).
        `normalize` turns the batch into floats.
        """
        augment = is_training and self.augment
        return DecodeCrop(
            size=self.resolution,
            mode="L" if self.in_chans == 1 else "RGB",
            crop_pct=self.crop_pct,
            area=(self.min_crop, 1.0) if augment and not self.pad_crop else None,
            pad=self.pad_crop if augment else 0,
            hflip=self.hflip if augment else 0.0,
            policy=self.policy if augment else None,
        )

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The per-channel statistics `normalize` uses (`channel_stats`)."""
        return channel_stats(self.in_chans)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) batch -> contiguous float32 normalised with `mean_std`, on its
        device; the model gets the same tensors the float loaders used to send."""
        if images.device not in self._scaled_stats:  # made once: a copy to a GPU would sync
            self._scaled_stats[images.device] = tuple(
                torch.tensor(values).mul_(255).view(-1, 1, 1).to(images.device)
                for values in self.mean_std
            )
        mean, std = self._scaled_stats[images.device]
        floats = images.to(torch.float32, memory_format=torch.contiguous_format)
        return floats.sub_(mean).div_(std)

    def on_after_batch_transfer(self, batch: tuple, dataloader_idx: int) -> tuple:
        """Lightning's hook, after the batch reached the model's device: the loaders ship
        uint8 (4x fewer bytes between processes and to the GPU), the model gets floats,
        randomly erased in training when the recipe asks (`re_prob`)."""
        images, labels = batch
        images = self.normalize(images)
        if self.re_prob and self.trainer is not None and self.trainer.training:
            images = self.erase(images)
        return images, labels

    def erase(self, images: torch.Tensor) -> torch.Tensor:
        """timm's random erasing of a normalised batch, each image with probability
        `re_prob`, filled with per-pixel normal noise (timm's `--remode pixel`)."""
        return RandomErasing(self.re_prob, mode="pixel", device=str(images.device))(images)

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

    def eval_dataloader(self, split: str) -> wds.WebLoader:
        """A held-out `split` read as validation reads val: each sample once, centre-cropped
        (`ladder evaluate`). Train is no such split: its loader shuffles and cycles."""
        if split == "train" or split not in self.manifest["counts"]:
            held_out = sorted(set(self.manifest["counts"]) - {"train"})
            raise InputError(f"split {split!r}: expected one of {', '.join(held_out)}")
        return self._loader(split)

    def teardown(self, stage: str) -> None:
        """Stop the loaders' worker processes now that Lightning is done with them.

        Left to the garbage collector (the loaders sit in reference cycles), a persistent
        worker's stop message can be lost: the collector may finalize the loader's queues
        before the iterator whose `__del__` sends it, and then torch waits 5 s for each
        worker before killing it, 20 s a run here, paid by whatever runs next in the
        process: the next trial in a reused Tune actor, the next test in pytest."""
        for torch_loader in self._torch_loaders:
            if torch_loader._iterator is not None:  # a persistent workers' iterator
                torch_loader._iterator._shutdown_workers()
                torch_loader._iterator = None
        self._torch_loaders.clear()

    def shard_reader(self, split: str) -> ShardReader:
        """This rank's reader of `split`: its shards on disk split among ranks x workers
        (`ReaderSplit.plan`); `owned(worker)` lists what each worker reads."""
        training = split == "train"
        rank, world_size = self.placement()
        workers = max(1, self.loader_workers)
        records = [  # not all-bad shards (no samples), nor missing ones (damage allowed)
            r
            for r in self.manifest["shards"][split]
            if r["count"] and (self.data_dir / r["name"]).is_file()
        ]
        return ShardReader(
            urls=tuple(str(self.data_dir / r["name"]) for r in records),
            counts=tuple(r["count"] for r in records),
            split=ReaderSplit.plan(len(records), world_size, workers, training=training),
            rank=rank,
            training=training,
        )

    def _loader(self, split: str) -> wds.WebLoader:
        batches = self.batches_per_epoch(split)
        if batches == 0:
            _, world_size = self.placement()
            raise InputError(
                f"{self.data_dir}: {split} has {self.manifest['counts'].get(split, 0)} samples; "
                f"needs at least {world_size} rank(s) x batch size {self.batch_size}"
            )
        training = split == "train"
        workers = max(1, self.loader_workers)
        reader = self.shard_reader(split)
        stages = [reader]
        if training and self.shuffle_buffer > 1:
            stages.append(partial(_shuffled, buffer=self.shuffle_buffer))
        stages += [
            wds.map(partial(_decode_sample, self.transform(is_training=training))),
            wds.batched(self.batch_size, collation_fn=_collate, partial=not training),
        ]
        dataset = wds.DataPipeline(*stages)
        loader = wds.WebLoader(
            dataset,
            batch_size=None,
            num_workers=self.loader_workers,
            persistent_workers=self.loader_workers > 0,
            pin_memory=torch.cuda.is_available(),  # uint8 batches copy to the GPU asynchronously
        )
        self._torch_loaders.append(loader.pipeline[0])  # the DataLoader it wraps
        if training:
            # each worker with samples yields its share; the loader cuts at exactly `batches`
            active = sum(1 for worker in range(workers) if reader.owned(worker))
            dataset.with_epoch(math.ceil(batches / active))
        else:
            loader = loader.unbatched().batched(self.batch_size, collation_fn=_collate)
        return loader.slice(batches).with_length(batches, silent=True)


class SamplesSeen(pl.Callback):
    """After each training epoch, one line on stderr (rank 0): the train samples the
    damaged shards leave readable (the train loader cycles through them to fill its
    fixed epoch) and the val samples the epoch saw, each against the manifest's count."""

    def __init__(self, readable: dict[str, int], manifest_counts: dict[str, int]) -> None:
        self.readable = readable
        self.counts = manifest_counts
        self.val_seen = 0

    def on_validation_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.val_seen = 0

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, *_) -> None:
        self.val_seen += len(batch[1]) * trainer.world_size

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            print(self.line(trainer.current_epoch + 1), file=sys.stderr, flush=True)

    def line(self, epoch: int) -> str:
        train, val = self.counts.get("train", 0), self.counts.get("val", 0)
        return (
            f"epoch {epoch} ({OPT_OUT}): {self.readable.get('train', 0)} of the manifest's "
            f"{train} train samples readable, {self.val_seen} of {val} val samples seen"
        )
