"""The EfficientNet paper's Figure 4: width scaling under different depths and resolutions.

One width sweep (beta = w) for each (depth, resolution) pair: (d, r) = (1.0, 1.0),
(2.0, 1.0), (1.0, 1.3) and (2.0, 1.3) by default, the paper's four. The paper found that
at the same FLOPs, width scaled together with depth and resolution reaches a higher
accuracy than width alone: the dimensions must be balanced. Models record alpha = d,
beta = w and gamma = r.

The widths and the base are sized for the digits demo on a laptop CPU (48 px, the `demo`
recipe); the paper's: `--set widths=1.0,1.4,1.8,2.2,2.6 --set base_resolution=224`.
"""

from __future__ import annotations

import itertools
from typing import Any

from lightning_modules.recipes import RECIPES
from tune_spaces import SearchSpace, grid_space, resolve
from tune_spaces.compound_scaling import counted_point

RECIPE = RECIPES["demo"]
DEFAULTS: dict[str, Any] = {
    "widths": (1.0, 1.5, 2.0),  # beta, swept on every (depth, resolution) curve
    "depths": (1.0, 2.0),  # alpha
    "resolution_multipliers": (1.0, 1.3),  # gamma
    "base_resolution": 48,
}


def space(**overrides: Any) -> SearchSpace:
    settings, recipe = resolve(DEFAULTS, RECIPE, overrides)
    curves = itertools.product(settings["depths"], settings["resolution_multipliers"])
    models = [
        counted_point(depth, width, gamma, settings["base_resolution"])
        for depth, gamma in curves
        for width in settings["widths"]
    ]
    return grid_space(models, recipe)
