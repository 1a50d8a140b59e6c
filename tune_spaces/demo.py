"""The demo: a small compound-scaling grid on the digits shards, minutes on a laptop CPU.

Its grid keeps exactly four ways to double B0's FLOPs at 48x48: depth alone (alpha=2),
width alone (beta=1.4), resolution alone (gamma=1.4) and the balanced compound point
(1.2, 1.1, 1.15) -- the comparison that motivates EfficientNet.
"""

from __future__ import annotations

from typing import Any

from tune_spaces import compound_scaling, resolve

DEFAULTS: dict[str, Any] = {
    **compound_scaling.DEFAULTS,
    "alphas": (1.0, 1.2, 2.0),
    "betas": (1.0, 1.1, 1.4),
    "gammas": (1.0, 1.15, 1.4),
    "base_resolution": 48,
    "epochs": 4,
    "batch_size": 32,  # more steps per epoch: BatchNorm's running stats settle sooner
    "optimizer": "adamw",  # from scratch in 4 epochs, AdamW beats SGD by far here
    "lr": 0.002,
    "warmup_epochs": 0.5,
    "min_crop": 0.5,  # digits survive mild crops,
    "hflip": 0.0,  # but not mirroring
    "loader_workers": 1,
}


def space(**overrides: Any) -> dict[str, Any]:
    return compound_scaling.space(**resolve(DEFAULTS, overrides))
