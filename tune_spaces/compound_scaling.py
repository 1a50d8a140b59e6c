"""Step 1 of EfficientNet's compound scaling: the grid search at phi = 1.

Tan & Le scale depth by alpha, width by beta and resolution by gamma, and constrain
alpha * beta^2 * gamma^2 ~= 2 so that each phi step doubles the FLOPs (FLOPs grow
linearly in depth and quadratically in width and resolution). This space keeps the grid
points within `tolerance` of `target` and trains EfficientNet-B0's architecture with
depth=alpha, width=beta at resolution round(base_resolution * gamma).
"""

from __future__ import annotations

import itertools
from typing import Any

from tune_spaces import RECIPE, grid_space, resolve

COEFFICIENTS = (1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4)

DEFAULTS: dict[str, Any] = {
    **RECIPE,
    "alphas": COEFFICIENTS,
    "betas": COEFFICIENTS,
    "gammas": COEFFICIENTS,
    "target": 2.0,  # FLOPs multiplier per phi step
    "tolerance": 0.05,  # relative: keep |alpha*beta^2*gamma^2 / target - 1| <= tolerance
    "base_resolution": 224,
}


def flops_factor(alpha: float, beta: float, gamma: float) -> float:
    """The paper's predicted FLOPs multiplier of a (depth, width, resolution) scaling."""
    return alpha * beta**2 * gamma**2


def scaled_model(alpha: float, beta: float, gamma: float, phi: float, base_resolution: int):
    """The `efficientnet` model config for coefficients (alpha, beta, gamma) scaled by phi."""
    return {
        "arch": "efficientnet",
        "depth": round(alpha**phi, 4),
        "width": round(beta**phi, 4),
        "resolution": round(base_resolution * gamma**phi),
        "alpha": alpha,
        "beta": beta,
        "gamma": gamma,
        "phi": phi,
    }


def kept_points(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Every grid point that meets the FLOPs constraint, as a model config at phi = 1."""
    return [
        scaled_model(alpha, beta, gamma, 1, settings["base_resolution"])
        for alpha, beta, gamma in itertools.product(
            settings["alphas"], settings["betas"], settings["gammas"]
        )
        if abs(flops_factor(alpha, beta, gamma) / settings["target"] - 1) <= settings["tolerance"]
    ]


def space(**overrides: Any) -> dict[str, Any]:
    settings = resolve(DEFAULTS, overrides)
    points = kept_points(settings)
    if not points:
        raise ValueError(
            f"no grid point has alpha*beta^2*gamma^2 within {settings['tolerance']:.0%} of "
            f"{settings['target']}: widen the grid or --set tolerance=..."
        )
    return grid_space(settings, points)
