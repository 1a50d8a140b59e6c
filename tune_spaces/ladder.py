"""The lecture's ladder: every landmark architecture under one training recipe.

Each trains at its native resolution (LeNet-5 at 32, the rest at 224) unless
`resolution` is set, so the accuracy-vs-MACs chart compares the models as published.
"""

from __future__ import annotations

from typing import Any

from lightning_modules.architectures import model_info
from tune_spaces import RECIPE, grid_space, resolve

DEFAULTS: dict[str, Any] = {
    **RECIPE,
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


def space(**overrides: Any) -> dict[str, Any]:
    settings = resolve(DEFAULTS, overrides)
    models = [
        {
            "arch": arch,
            "resolution": settings["resolution"] or model_info(arch).native_resolution,
        }
        for arch in settings["archs"]
    ]
    return grid_space(settings, models)
