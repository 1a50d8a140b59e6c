"""ShardDataModule over real shards: shapes, labels, epoch lengths, the rank split, and the
worker-side decoding (JPEG draft, uint8) with normalisation on the device."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from collections import Counter

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import webdataset as wds
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from lightning_modules.data import ShardDataModule
from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest, upsampling_warning
from lightning_modules.shard_reader import ReaderSplit, read_tar
from lightning_modules.transforms import DecodeCrop, draft_scale
from pipeline.bench.suite import photo_jpeg

PHOTO = photo_jpeg(np.random.default_rng(0))  # 500x375, smooth like a photo


def fingerprint(image: torch.Tensor) -> bytes:
    return image.numpy().tobytes()


def expected_fingerprints(module: ShardDataModule, split: str) -> Counter:
    """(label, fingerprint) of every sample of a split, through the eval transform."""
    transform = module.transform(is_training=False)
    expected = Counter()
    for record in module.manifest["shards"][split]:
        with tarfile.open(module.data_dir / record["name"]) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar}
        for name, data in members.items():
            if name.endswith(".jpg"):
                label = int(members[name[: -len("jpg")] + "cls"])
                expected[label, fingerprint(transform(Image.open(io.BytesIO(data))))] += 1
    return expected


def seen_fingerprints(loader) -> Counter:
    return Counter(
        (int(label), fingerprint(image))
        for images, labels in loader
        for image, label in zip(images, labels, strict=True)
    )


@pytest.mark.parametrize(("in_chans", "resolution"), [(1, 32), (3, 64)])
@pytest.mark.parametrize("data", ["imagenet_shards", "digits_shards"])
def test_uint8_batches_become_normalised_floats_after_transfer(data, in_chans, resolution, request):
    module = ShardDataModule(
        request.getfixturevalue(data), resolution, batch_size=4, loader_workers=0, in_chans=in_chans
    )
    mean, std = (torch.tensor(v).view(-1, 1, 1) for v in module.mean_std)
    for loader in (module.train_dataloader(), module.val_dataloader()):
        images, labels = next(iter(loader))
        assert images.shape == (4, in_chans, resolution, resolution)
        assert images.dtype == torch.uint8 and labels.dtype == torch.long
        assert labels.min() >= 0 and labels.max() < module.num_classes
        floats, same_labels = module.on_after_batch_transfer((images, labels), 0)
        assert floats.dtype == torch.float32 and same_labels is labels
        torch.testing.assert_close(floats, (images / 255 - mean) / std)


class BatchRecorder(pl.LightningModule):
    """Keeps the validation batches exactly as the Trainer hands them to the model."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)
        self.batches = []

    def validation_step(self, batch, _):
        self.batches.append(batch)


def test_a_trainer_hands_the_model_normalised_floats(imagenet_shards):
    module = ShardDataModule(imagenet_shards, 32, batch_size=6, loader_workers=0)
    recorder = BatchRecorder()
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    trainer.validate(recorder, datamodule=module, verbose=False)
    shipped = list(module.val_dataloader())
    assert len(recorder.batches) == len(shipped) == 3
    for (images, labels), (raw, raw_labels) in zip(recorder.batches, shipped, strict=True):
        assert images.dtype == torch.float32 and raw.dtype == torch.uint8
        assert torch.equal(images, module.normalize(raw)) and torch.equal(labels, raw_labels)


def test_draft_scale_keeps_the_crop_at_least_the_output_size():
    assert draft_scale((0, 0, 447, 500), 224) == 1  # just under 2x: full decode
    assert draft_scale((10, 10, 458, 458), 224) == 2  # exactly 2x on the shorter side
    assert draft_scale((0, 0, 1000, 900), 224) == 4
    assert draft_scale((0, 0, 4000, 3000), 64) == 8  # libjpeg's smallest scale


def mean_difference(image: torch.Tensor, expected: Image.Image) -> float:
    return (image.float() - pil_to_tensor(expected).float()).abs().mean().item()


@pytest.mark.parametrize(
    ("size", "decoded"), [(64, (125, 94)), (128, (250, 188)), (200, (500, 375))]
)
def test_train_crop_decodes_the_jpeg_at_the_smallest_scale_that_keeps_the_crop(size, decoded):
    """The whole 500x375 photo (area 1.0) is 375 px high: 4x and 2x 64 and 128 px, not 2x
    200 px."""
    image = Image.open(io.BytesIO(PHOTO))
    tensor = DecodeCrop(size, "RGB", crop_pct=0.875, area=(1.0, 1.0))(image)
    assert tensor.shape == (3, size, size) and tensor.dtype == torch.uint8
    assert image.size == decoded  # the size libjpeg decoded the file at
    full = Image.open(io.BytesIO(PHOTO)).convert("RGB")  # loaded: decoded in full
    assert mean_difference(tensor, full.resize((size, size), Image.Resampling.BILINEAR)) < 3


def test_train_crop_of_the_whole_image_flipped_is_the_mirrored_photo():
    """Area 1.0 makes RandomResizedCrop take the whole 500x375 (4:3) image; hflip 1.0 flips."""
    image = Image.open(io.BytesIO(PHOTO))
    tensor = DecodeCrop(64, "RGB", 0.875, area=(1.0, 1.0), hflip=1.0)(image)
    assert image.size == (125, 94)  # 375 px >= 4 x 64: decoded at 1/4
    full = Image.open(io.BytesIO(PHOTO)).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    assert mean_difference(tensor, full.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) < 3
    assert mean_difference(tensor, full) > 10


def test_grayscale_training_crops_come_straight_from_the_jpeg_luma():
    image = Image.open(io.BytesIO(PHOTO))
    tensor = DecodeCrop(32, "L", 0.875, area=(1.0, 1.0))(image)
    assert tensor.shape == (1, 32, 32) and image.mode == "L"
    full = Image.open(io.BytesIO(PHOTO)).convert("L")
    assert mean_difference(tensor, full.resize((32, 32), Image.Resampling.BILINEAR)) < 3


def test_upsampling_warning_is_one_line_above_the_shards_max_size():
    assert upsampling_warning({"max_size": 256}, 256) is None
    line = upsampling_warning({"max_size": 256}, 288)
    assert "288" in line and "256" in line and "\n" not in line
    assert upsampling_warning({"counts": {}}, 1024) is None  # older manifests: no max_size


def wds_samples(url: str) -> list[dict]:
    samples = wds.tarfile_to_samples()(iter([{"url": url}]))
    return [{k: v for k, v in sample.items() if k != "__url__"} for sample in samples]


def test_read_tar_gives_what_webdataset_gives(imagenet_shards, tmp_path):
    for tar in sorted(imagenet_shards.glob("*.tar")):
        assert list(read_tar(str(tar))) == wds_samples(str(tar))
    long_names = str(tmp_path / "long.tar")  # pax headers: a key over 100 bytes, non-ASCII
    with wds.TarWriter(long_names) as writer:
        for key in ("short", "é" * 80 + "/" + "x" * 120, "folder/name"):
            writer.write({"__key__": key, "jpg": PHOTO[:1000], "cls": 3, "json": b"{}"})
    assert list(read_tar(long_names)) == wds_samples(long_names)
    assert [sample["__key__"] for sample in read_tar(long_names)][1].startswith("éé")


def test_classes_come_from_the_manifest(digits_shards):
    module = ShardDataModule(digits_shards, 32)
    assert module.classes == [str(d) for d in range(10)] and module.num_classes == 10


def test_every_val_sample_is_seen_exactly_once_in_one_process(imagenet_shards):
    module = ShardDataModule(imagenet_shards, 32, batch_size=4, loader_workers=2)
    loader = module.val_dataloader()
    assert seen_fingerprints(loader) == expected_fingerprints(module, "val")
    assert len(list(loader)) == len(loader) == module.batches_per_epoch("val") == 5  # 18 / 4


def test_train_epoch_length_comes_from_the_manifest_with_2_workers(imagenet_shards):
    module = ShardDataModule(imagenet_shards, 32, batch_size=8, loader_workers=2)
    loader = module.train_dataloader()
    assert module.batches_per_epoch("train") == len(loader) == 60 // 8
    for _ in range(2):  # the persistent workers restart cleanly
        batches = list(loader)
        assert len(batches) == 60 // 8
        assert all(len(labels) == 8 for _, labels in batches)


@pytest.mark.parametrize("split", ["train", "val"])
def test_two_ranks_see_disjoint_samples_and_equal_batch_counts(imagenet_shards, split):
    seen, counts = [], []
    for rank in (0, 1):
        module = ShardDataModule(
            imagenet_shards,
            32,
            batch_size=4,
            loader_workers=2,
            augment=False,
            rank=rank,
            world_size=2,
        )
        loader = getattr(module, f"{split}_dataloader")()
        batches = list(loader)
        counts.append(len(batches))
        seen.append(seen_fingerprints(batches))
    total = module.manifest["counts"][split]
    assert counts[0] == counts[1] == module.batches_per_epoch(split)
    assert module.batches_per_epoch(split) == (total // 2 // 4 if split == "train" else 3)
    assert not set(seen[0]) & set(seen[1])
    everything = expected_fingerprints(module, split)
    assert set(seen[0]) | set(seen[1]) <= set(everything)
    if split == "val":  # at most once per rank, and each rank drops at most one sample
        assert max((seen[0] + seen[1]).values()) == 1
        assert sum(seen[0].values()) + sum(seen[1].values()) >= total - 2


@pytest.mark.parametrize(
    ("num_shards", "world_size", "num_workers", "training"),
    [(8, 2, 2, True), (3, 2, 2, True), (1, 2, 3, True), (5, 4, 1, False), (2, 2, 2, False)],
)
def test_every_sample_has_exactly_one_reader(num_shards, world_size, num_workers, training):
    split = ReaderSplit.plan(num_shards, world_size, num_workers, training=training)
    counts = [7] * num_shards
    offsets = list(itertools.accumulate([0, *counts]))
    for shard, count in enumerate(counts):
        for index in range(offsets[shard], offsets[shard] + count):
            owners = [
                (rank, worker)
                for rank in range(world_size)
                for worker in range(num_workers)
                if split.owns_shard(shard, rank, worker) and split.owns_sample(index, rank, worker)
            ]
            assert len(owners) == 1, (shard, index, owners)


def test_missing_or_incomplete_manifest_names_the_folder(tmp_path, imagenet_shards):
    with pytest.raises(InputError, match=str(tmp_path)):
        load_manifest(tmp_path)
    incomplete = json.loads((imagenet_shards / "manifest.json").read_text()) | {"complete": False}
    (tmp_path / "manifest.json").write_text(json.dumps(incomplete))
    with pytest.raises(ValueError, match="incomplete"):
        ShardDataModule(tmp_path, 32)


class CountingModel(pl.LightningModule):
    """The smallest real model: counts the batches and samples each rank trains/validates on."""

    def __init__(self, out_dir: str, num_classes: int) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.linear = torch.nn.Linear(8 * 8, num_classes)
        self.counts = Counter()

    def training_step(self, batch, _):
        images, labels = batch
        self.counts["train_batches"] += 1
        return torch.nn.functional.cross_entropy(self.linear(images.flatten(1)), labels)

    def validation_step(self, batch, _):
        images, labels = batch
        self.counts["val_batches"] += 1
        self.counts["val_samples"] += len(labels)
        loss = torch.nn.functional.cross_entropy(self.linear(images.flatten(1)), labels)
        self.log("val_loss", loss, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def on_fit_end(self):
        path = f"{self.out_dir}/rank{self.global_rank}.json"
        with open(path, "w") as stream:
            json.dump(self.counts, stream)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_lightning_ddp_on_cpu_runs_equal_epochs_on_both_ranks(digits_shards, tmp_path):
    module = ShardDataModule(digits_shards, 8, batch_size=32, loader_workers=1, in_chans=1)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=2,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(CountingModel(str(tmp_path), module.num_classes), datamodule=module)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert (
        ranks[0]
        == ranks[1]
        == {
            "train_batches": 2 * (1437 // 2 // 32),
            "val_batches": 2 * 6,  # ceil(180 / 32) per epoch
            "val_samples": 2 * 180,
        }
    )


def test_a_finished_fit_leaves_no_loader_worker_running(digits_shards):
    """Persistent workers stop when Lightning is done, not when the garbage collector gets
    to the loaders: it can finalize their queues first, and torch then waits 5 s for each
    worker, which the next trial in a reused Tune actor paid (20 s a trial)."""
    from multiprocessing import active_children

    from lightning_modules.run import build_run
    from lightning_modules.specs import ModelSpec, Recipe

    spec, recipe = ModelSpec(arch="lenet5", resolution=32), Recipe(epochs=1)
    classifier, data = build_run(digits_shards, load_manifest(digits_shards), spec, recipe)
    assert data.loader_workers > 0
    before = {child.pid for child in active_children()}
    trainer = pl.Trainer(
        max_epochs=1, limit_train_batches=3, limit_val_batches=2, accelerator="cpu",
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(classifier, datamodule=data)
    left = {child.pid for child in active_children()} - before
    assert not left, f"loader workers still running after fit: {sorted(left)}"
