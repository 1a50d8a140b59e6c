"""Step 1 of EfficientNet's compound scaling: the grid search at phi = 1.

Tan & Le scale depth by alpha, width by beta and resolution by gamma, and constrain
alpha * beta^2 * gamma^2 ~= 2 so that each phi step doubles the FLOPs (FLOPs grow
linearly in depth and quadratically in width and resolution). This space keeps the grid
points within `tolerance` of `target` and trains EfficientNet-B0's architecture with
depth=alpha, width=beta at resolution round(base_resolution * gamma).

The formula is a proxy. Real networks round: channels to multiples of 8 and each
stage's repeats up (ceil), so depth 1.05 already adds a block to every one of B0's seven
stages and costs ~1.4x, not 1.05x. Each point therefore also carries its *counted* MACs
relative to the base model (`macs_ratio`), and points whose counted MACs miss the
target by more than `macs_tolerance` are dropped (0 keeps them all, as the paper did).
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.macs import count_all, macs_of
from lightning_modules.recipes import RECIPES
from lightning_modules.specs import ModelSpec, Recipe, resolve_model
from tune_spaces import SearchSpace, grid_space, resolve

COEFFICIENTS = (1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4)

RECIPE = RECIPES["default"]
DEFAULTS: dict[str, Any] = {
    "alphas": COEFFICIENTS,
    "betas": COEFFICIENTS,
    "gammas": COEFFICIENTS,
    "target": 2.0,  # FLOPs multiplier per phi step
    "tolerance": 0.05,  # relative: keep |alpha*beta^2*gamma^2 / target - 1| <= tolerance
    "base_resolution": 224,
    "macs_tolerance": 0.2,  # relative: drop points whose counted MACs miss target*base (0: off)
}


def flops_factor(alpha: float, beta: float, gamma: float) -> float:
    """The paper's predicted FLOPs multiplier of a (depth, width, resolution) scaling."""
    return alpha * beta**2 * gamma**2


def scaled_model(
    alpha: float, beta: float, gamma: float, phi: float, base_resolution: int
) -> ModelSpec:
    """B0's architecture scaled by (alpha, beta, gamma)^phi, recording the coefficients."""
    spec = resolve_model(
        "efficientnet",
        round(base_resolution * gamma**phi),
        width=round(beta**phi, 4),
        depth=round(alpha**phi, 4),
    )
    return replace(spec, alpha=alpha, beta=beta, gamma=gamma, phi=phi)


def counted_point(alpha: float, beta: float, gamma: float, base_resolution: int) -> ModelSpec:
    """`scaled_model` at phi = 1 with its counted MACs relative to the base model (at
    1000 classes; `count_all` first counts many points on all cores)."""
    model = scaled_model(alpha, beta, gamma, 1, base_resolution)
    base = macs_of(resolve_model("efficientnet", base_resolution))
    return replace(model, macs_ratio=round(macs_of(model) / base, 3))


def grid_points(settings: dict[str, Any]) -> tuple[list[ModelSpec], list[ModelSpec]]:
    """(kept, dropped): the points meeting the formula, split by their counted MACs.

    Every point is a model at phi = 1 with its `macs_ratio` to the base model.
    """
    base_resolution, target = settings["base_resolution"], settings["target"]
    formula = [
        point
        for point in itertools.product(settings["alphas"], settings["betas"], settings["gammas"])
        if abs(flops_factor(*point) / target - 1) <= settings["tolerance"]
    ]
    base = resolve_model("efficientnet", base_resolution)
    count_all([base, *(scaled_model(*point, 1, base_resolution) for point in formula)])
    kept, dropped = [], []
    for point in formula:
        model = counted_point(*point, base_resolution)
        miss = abs(model.macs_ratio / target - 1)
        tolerance = settings["macs_tolerance"]
        (dropped if tolerance and miss > tolerance else kept).append(model)
    return kept, dropped


def space(**overrides: Any) -> SearchSpace:
    return grid(DEFAULTS, RECIPE, overrides)


def grid(defaults: dict[str, Any], recipe: Recipe, overrides: dict[str, Any]) -> SearchSpace:
    """The param space of a compound grid with these defaults (the demo's are smaller)."""
    settings, recipe = resolve(defaults, recipe, overrides)
    kept, dropped = grid_points(settings)
    if dropped:
        print(
            f"compound grid: dropped {len(dropped)} of {len(kept) + len(dropped)} points whose "
            f"counted MACs miss {settings['target']}x the base by more than "
            f"{settings['macs_tolerance']:.0%} (--set macs_tolerance=0 keeps them)",
            file=sys.stderr,
        )
    if not kept:
        raise InputError(
            f"no grid point has alpha*beta^2*gamma^2 within {settings['tolerance']:.0%} of "
            f"{settings['target']} and counted MACs within {settings['macs_tolerance']:.0%}: "
            "widen the grid or --set tolerance=... / macs_tolerance=..."
        )
    return grid_space(kept, recipe)
