"""The EfficientNet paper's Figure 3: scale one dimension of the base model at a time.

From B0's architecture at `base_resolution`, three curves: width alone (beta = w), depth
alone (alpha = d) and resolution alone (gamma = r), each with the other two multipliers
at 1.0, so every model records in its coefficients which dimension it scales (and the
base model, all 1.0, starts all three curves; it trains once). The paper found each
curve saturating: accuracy gains fade past about 80% top-1 however far one dimension
grows, which is what motivates scaling all three together.

The defaults are sized for the digits demo on a laptop CPU (a few points, 48 px, the
`demo` recipe). The paper's values:

    --set widths=1.0,1.4,1.8,2.6,3.8,5.0 --set depths=1.0,2.0,3.0,4.0,6.0,8.0
    --set resolution_multipliers=1.0,1.16,1.34,1.7,2.05,2.5 --set base_resolution=224
"""

from __future__ import annotations

from typing import Any

from lightning_modules.recipes import RECIPES
from lightning_modules.specs import ModelSpec
from tune_spaces import SearchSpace, grid_space, resolve
from tune_spaces.compound_scaling import counted_point

RECIPE = RECIPES["demo"]
DEFAULTS: dict[str, Any] = {
    "widths": (1.0, 2.0, 3.0),  # beta: channel multipliers (paper: up to 5.0)
    "depths": (1.0, 2.0, 4.0),  # alpha: repeat multipliers (paper: up to 8.0)
    "resolution_multipliers": (1.0, 1.5, 2.0),  # gamma: side multipliers (paper: up to 2.5)
    "base_resolution": 48,
}


def single_dimension_models(settings: dict[str, Any]) -> list[ModelSpec]:
    """The base model, then each dimension's points in order; each model once."""
    base = settings["base_resolution"]
    points = [(1.0, 1.0, 1.0)]
    points += [(1.0, width, 1.0) for width in settings["widths"]]
    points += [(depth, 1.0, 1.0) for depth in settings["depths"]]
    points += [(1.0, 1.0, gamma) for gamma in settings["resolution_multipliers"]]
    unique = list(dict.fromkeys((float(a), float(b), float(g)) for a, b, g in points))
    return [counted_point(alpha, beta, gamma, base) for alpha, beta, gamma in unique]


def space(**overrides: Any) -> SearchSpace:
    settings, recipe = resolve(DEFAULTS, RECIPE, overrides)
    return grid_space(single_dimension_models(settings), recipe)
