"""Step 2 of EfficientNet's compound scaling: fix (alpha, beta, gamma), grow phi.

With alpha*beta^2*gamma^2 ~= 2, model phi costs about 2^phi times the base. The
defaults are the paper's coefficients (1.2, 1.1, 1.15); `ladder sweep --from-sweep NAME`
substitutes the best point of an earlier compound_scaling sweep.
"""

from __future__ import annotations

from typing import Any

from tune_spaces import RECIPE, grid_space, resolve
from tune_spaces.compound_scaling import scaled_model

DEFAULTS: dict[str, Any] = {
    **RECIPE,
    "alpha": 1.2,
    "beta": 1.1,
    "gamma": 1.15,
    "phis": (0, 1, 2, 3),
    "base_resolution": 224,
}


def space(**overrides: Any) -> dict[str, Any]:
    settings = resolve(DEFAULTS, overrides)
    models = [
        scaled_model(
            settings["alpha"], settings["beta"], settings["gamma"], phi, settings["base_resolution"]
        )
        for phi in settings["phis"]
    ]
    return grid_space(settings, models)
