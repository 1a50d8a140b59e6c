"""Step 2 of EfficientNet's compound scaling: fix (alpha, beta, gamma), grow phi.

With alpha*beta^2*gamma^2 ~= 2, model phi costs about 2^phi times the base. The
defaults are the paper's coefficients (1.2, 1.1, 1.15); `ladder sweep --from-sweep NAME`
substitutes the best point of an earlier compound_scaling sweep.
"""

from __future__ import annotations

from typing import Any

from lightning_modules.recipes import RECIPES
from tune_spaces import SearchSpace, grid_space, resolve
from tune_spaces.compound_scaling import scaled_model

RECIPE = RECIPES["default"]
DEFAULTS: dict[str, Any] = {
    "alpha": 1.2,
    "beta": 1.1,
    "gamma": 1.15,
    "phis": (0, 1, 2, 3),
    "base_resolution": 224,
}


def space(**overrides: Any) -> SearchSpace:
    settings, recipe = resolve(DEFAULTS, RECIPE, overrides)
    coefficients = (settings["alpha"], settings["beta"], settings["gamma"])
    models = [
        scaled_model(*coefficients, phi, settings["base_resolution"]) for phi in settings["phis"]
    ]
    return grid_space(models, recipe)
