"""The demo: a small compound-scaling grid on the digits shards, minutes on a laptop CPU.

Its grid keeps exactly four ways to double B0's FLOPs at 48x48: depth alone (alpha=2),
width alone (beta=1.4), resolution alone (gamma=1.4) and the balanced compound point
(1.2, 1.1, 1.15) -- the comparison that motivates EfficientNet. It trains with the
`demo` recipe (AdamW, 4 epochs, batch 32, mild crops, no flips).
"""

from __future__ import annotations

from typing import Any

from lightning_modules.recipes import RECIPES
from tune_spaces import SearchSpace, compound_scaling

RECIPE = RECIPES["demo"]
DEFAULTS: dict[str, Any] = {
    **compound_scaling.DEFAULTS,
    "alphas": (1.0, 1.2, 2.0),
    "betas": (1.0, 1.1, 1.4),
    "gammas": (1.0, 1.15, 1.4),
    "base_resolution": 48,
}


def space(**overrides: Any) -> SearchSpace:
    return compound_scaling.grid(DEFAULTS, RECIPE, overrides)
