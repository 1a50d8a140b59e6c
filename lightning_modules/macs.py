"""Counted MACs of many models, fast: what a dry run of a hundred random draws, or the
compound grid's seventy-five formula points, spends its time on.

Each network is built on the meta device (shapes only) and counted by its convolution
and linear layers (`measure.layer_macs`): the zoo's own architectures have no other
products, and a test holds the count equal to `FlopCounterMode`'s on every one of them;
timm's models (`timm:NAME`, attention's matrix products among them) are counted by
`FlopCounterMode` itself. Counts are kept per (spec, classes, channels); many specs are
counted on all cores, in processes forked from this one (torch imported, nothing run).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

from lightning_modules.builder_keys import TIMM_PREFIX
from lightning_modules.specs import ModelSpec

PARALLEL_FROM = 16  # specs to count before forking is worth its start (~0.1 s a process)
_COUNTED: dict[tuple[ModelSpec, int, int], int] = {}


def macs_of(spec: ModelSpec, num_classes: int = 1000, in_chans: int = 3) -> int:
    """MACs of one forward pass of one image at the spec's resolution."""
    key = (spec, num_classes, in_chans)
    if key not in _COUNTED:
        _COUNTED[key] = _count(spec, num_classes, in_chans)
    return _COUNTED[key]


def count_all(specs: Iterable[ModelSpec], num_classes: int = 1000, in_chans: int = 3) -> None:
    """Count every spec not counted yet, on all cores when there are many (`macs_of`
    then answers at once)."""
    todo = list(dict.fromkeys(s for s in specs if (s, num_classes, in_chans) not in _COUNTED))
    cores = min(os.cpu_count() or 1, len(todo) // PARALLEL_FROM + 1)
    if cores < 2:
        for spec in todo:
            macs_of(spec, num_classes, in_chans)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(cores, mp_context=context) as pool:
        shares = [todo[k::cores] for k in range(cores)]
        for share, counts in zip(shares, pool.map(_count_share, shares, [num_classes] * cores,
                                                  [in_chans] * cores), strict=True):  # fmt: skip
            for spec, macs in zip(share, counts, strict=True):
                _COUNTED[(spec, num_classes, in_chans)] = macs


def _count_share(specs: list[ModelSpec], num_classes: int, in_chans: int) -> list[int]:
    return [_count(spec, num_classes, in_chans) for spec in specs]


def _count(spec: ModelSpec, num_classes: int, in_chans: int) -> int:
    from lightning_modules.measure import count_macs, layer_macs, on_meta_device

    with on_meta_device():
        network = spec.build(num_classes, in_chans)
    count = count_macs if spec.arch.startswith(TIMM_PREFIX) else layer_macs
    return count(network, spec.resolution, in_chans)
