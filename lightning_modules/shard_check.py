"""Shards that do not match their manifest, found before a run trains on them.

A shard folder's `manifest.json` records each shard's name, sample count and byte size.
A copy cut short (a full disk, an interrupted rsync) used to train on what was left,
silently. Every run's data module checks each shard's size (not its sha256: hashing
ImageNet's 140 GB would take minutes before every run) and names the first mismatch.
With `allow_damaged` it goes on; the readable samples of the damaged shards are counted
once, and `lightning_modules.data.SamplesSeen` says after every epoch how many samples
that epoch could read and saw against the manifest's counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
