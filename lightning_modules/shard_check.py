"""Shards that do not match their manifest, found before a run trains on them.

A shard folder's `manifest.json` records each shard's name, sample count and byte size.
A copy cut short (a full disk, an interrupted rsync) used to train on what was left,
silently. Every run's data module checks each shard's size (not its sha256: hashing
ImageNet's 140 GB would take minutes before every run) and names the first mismatch.
With `allow_damaged` it goes on; the readable samples of the damaged shards are counted
once, and `SamplesSeen` says after every epoch how many samples that epoch could read and
saw against the manifest's counts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

OPT_OUT = "--allow-damaged-shards"


def damaged_shards(data_dir: Path, manifest: dict[str, Any]) -> list[str]:
    """One line per shard file that is missing or whose size differs from its record."""
    lines = []
    for split, records in manifest["shards"].items():
        for record in records:
            path = data_dir / record["name"]
            found = path.stat().st_size if path.is_file() else None
            if found is None:
                lines.append(f"{path}: missing ({split} shard of {record['size']} bytes)")
            elif found != record["size"]:
                lines.append(
                    f"{path}: {found} bytes, the manifest says {record['size']} ({split} shard)"
                )
    return lines


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
