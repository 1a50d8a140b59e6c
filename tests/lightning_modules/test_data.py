"""ShardDataModule over real shards: shapes, labels, epoch lengths and the rank split."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from collections import Counter

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from lightning_modules.data import ReaderSplit, ShardDataModule, load_manifest
from lightning_modules.errors import InputError


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
def test_batches_have_the_model_input_shape(data, in_chans, resolution, request):
    module = ShardDataModule(
        request.getfixturevalue(data), resolution, batch_size=4, loader_workers=0, in_chans=in_chans
    )
    for loader in (module.train_dataloader(), module.val_dataloader()):
        images, labels = next(iter(loader))
        assert images.shape == (4, in_chans, resolution, resolution)
        assert images.dtype == torch.float32 and labels.dtype == torch.long
        assert labels.min() >= 0 and labels.max() < module.num_classes


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
