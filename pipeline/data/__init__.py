"""Data sources for `ladder shards`: image sets that are not an ImageNet-layout folder."""
