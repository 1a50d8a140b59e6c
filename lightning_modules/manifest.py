"""A shard folder's `manifest.json`: the format the reader defines and `ladder shards` writes.

Apart from the data module so that what only reads a manifest (a sweep's plan, a baseline,
the shard writer, a chart's reference line) does not import torch and WebDataset.
"""

from __future__ import annotations

import json
from pathlib import Path

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


def upsampling_warning(manifest: dict, resolution: int) -> str | None:
    """One line for a train or sweep at a `resolution` above the shards' `max_size`, else None.

    `ladder shards` stores every image with its shorter side at most `max_size`, so such
    a run upsamples every image: it costs time and shows no detail the shards have lost.
    Manifests without `max_size` get no warning.
    """
    max_size = manifest.get("max_size")
    if max_size is None or resolution <= max_size:
        return None
    return (
        f"warning: resolution {resolution} exceeds the shards' max size {max_size} (shorter "
        f"side), so every image is upsampled; rebuild them with --max-size {resolution} or more"
    )
