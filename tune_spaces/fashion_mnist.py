"""The ladder on Fashion-MNIST: the lecture's networks where a published table has them.

Fashion-MNIST's benchmark table (Xiao, Rasul & Vollgraf 2017, and its README) lists the
ladder's families at 28 px: 2-conv networks (LeNet-5's shape), AlexNet, VGG16, ResNet18,
MobileNet. This space trains each at 32 px (LeNet-5's input; the 28 px images are resized)
under the one `fashion_mnist` recipe, every network that has one with the `cifar` stem
(`lightning_modules/architectures/small_stem.py`), so that `ladder chart --figure
reference` can put each beside its published row. `width` scales the networks that take
a width (MobileNetV2): on a CPU a narrower one fits the time.
"""

from __future__ import annotations

from typing import Any

from lightning_modules.architectures import model_info
from lightning_modules.architectures.small_stem import MIN_RESOLUTION
from lightning_modules.recipes import RECIPES
from lightning_modules.specs import ModelSpec, resolve_model
from tune_spaces import SearchSpace, grid_space, resolve

RECIPE = RECIPES["fashion_mnist"]
DEFAULTS: dict[str, Any] = {
    "archs": ("lenet5", "alexnet", "vgg16", "resnet18", "mobilenetv2", "efficientnet_b0"),
    "resolution": 32,
    "stem": "cifar",  # for every architecture that has one; "imagenet": their own
    "width": 1.0,  # for the architectures that scale in width
}


def space(**overrides: Any) -> SearchSpace:
    settings, recipe = resolve(DEFAULTS, RECIPE, overrides)
    return grid_space([fashion_model(arch, settings) for arch in settings["archs"]], recipe)


def fashion_model(arch: str, settings: dict[str, Any]) -> ModelSpec:
    """`arch` at the space's resolution, with its stem and width where it has them."""
    info = model_info(arch)  # InputError naming the valid ones
    stem = settings["stem"] if info.family in MIN_RESOLUTION else None
    width = settings["width"] if "width" in info.scaling_keys else None
    return resolve_model(arch, settings["resolution"], stem, width=width)
