"""The lecture's ladder: every landmark architecture under one training recipe.

Each trains at its native resolution (LeNet-5 at 32, the rest at 224) unless
`resolution` is set, so the accuracy-vs-MACs chart compares the models as published.
"""

from __future__ import annotations

from typing import Any

from lightning_modules.recipes import RECIPES
from lightning_modules.specs import resolve_model
from tune_spaces import SearchSpace, grid_space, resolve

RECIPE = RECIPES["default"]
DEFAULTS: dict[str, Any] = {
    "archs": (
        "lenet5",
        "alexnet",
        "vgg16",
        "resnet34",
        "resnet50",
        "resnet152",
        "mobilenetv2",
        "efficientnet_b0",
    ),
    "resolution": 0,  # 0: each architecture's native resolution
}


def space(**overrides: Any) -> SearchSpace:
    settings, recipe = resolve(DEFAULTS, RECIPE, overrides)
    models = [resolve_model(arch, settings["resolution"] or None) for arch in settings["archs"]]
    return grid_space(models, recipe)
