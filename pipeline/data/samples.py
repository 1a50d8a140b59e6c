"""What `ladder shards` writes: samples, and a source's classes and splits of them."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Sample:
    """One image to shard: its key in the tar, its class index, and where it comes from."""

    key: str
    label: int
    origin: str  # the file path, or a description of in-memory data; reported when skipped
    data: bytes | None = None  # in-memory image (the demos); None: read the file at `origin`

    def read(self) -> bytes:
        return self.data if self.data is not None else Path(self.origin).read_bytes()


@dataclass(frozen=True)
class ShardSource:
    """A data set ready to shard: its classes (index = position), samples per split, and
    what the manifest records about where they came from."""

    classes: list[str]
    splits: dict[str, list[Sample]]
    source: str  # a folder, or the library the images come from
    split_info: dict
    channels: int = 3  # 1 gray, 3 RGB: the models' default in_chans
    dataset: str | None = None  # a data set with published references (fashion-mnist, ...)
    listing_skipped: list[dict] = field(default_factory=list)


def png_bytes(pixels: np.ndarray) -> bytes:
    """uint8 (H, W) or (H, W, 3) pixels as a PNG: lossless, so stored bit-exact."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()
