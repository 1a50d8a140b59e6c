"""Data for `ladder shards`: ImageNet-layout folders, IDX files and demo sets, and the writer."""

import os

DEMOS = ("digits", "fashion-mnist")  # `--demo`: sklearn's digits, Debian's Fashion-MNIST
DEFAULT_MAX_SIZE = 256  # shorter side: 224 px crops at timm's crop_pct 0.875, no upsampling
DEFAULT_SHARD_SIZE = 1000  # samples per shard: ~100 MB of ImageNet JPEGs, 1,281 train shards


def default_workers() -> int:
    """Processes that encode shards unless told: the CPUs, at most 8 (disks saturate)."""
    return min(8, os.cpu_count() or 1)
