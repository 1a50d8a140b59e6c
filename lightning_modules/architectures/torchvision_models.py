"""AlexNet, VGG, ResNet and MobileNetV2: torchvision's reference implementations.

torchvision's versions are the ones whose parameter and MAC counts everybody quotes,
so they are used as they are; only the first convolution is adapted when the input
does not have 3 channels.
"""

from __future__ import annotations

from functools import partial

import torchvision
from timm.models import adapt_input_conv
from torch import nn

from lightning_modules.architectures import register_model


def _torchvision_model(arch: str, num_classes: int, in_chans: int, **kwargs) -> nn.Module:
    model = torchvision.models.get_model(arch, weights=None, num_classes=num_classes, **kwargs)
    if in_chans != 3:
        _adapt_first_conv(model, in_chans)
    return model


def _adapt_first_conv(model: nn.Module, in_chans: int) -> None:
    """Give the model's first convolution `in_chans` input channels.

    Uses timm's rule for the weights (sum the RGB filters for one channel, tile and
    rescale for more), so the layer keeps the scale the model's own init gave it.
    """
    conv = next(module for module in model.modules() if isinstance(module, nn.Conv2d))
    conv.weight = nn.Parameter(adapt_input_conv(in_chans, conv.weight.detach()))
    conv.in_channels = in_chans


register_model(family="alexnet", year=2012, min_resolution=63, name="alexnet")(
    partial(_torchvision_model, "alexnet")
)

for _depth in (11, 13, 16, 19):
    for _arch in (f"vgg{_depth}", f"vgg{_depth}_bn"):
        register_model(family="vgg", year=2014, name=_arch)(partial(_torchvision_model, _arch))

for _depth in (18, 34, 50, 101, 152):
    register_model(family="resnet", year=2015, name=f"resnet{_depth}")(
        partial(_torchvision_model, f"resnet{_depth}")
    )


@register_model(family="mobilenetv2", year=2018, scaling_keys=("width",))
def mobilenetv2(num_classes: int, in_chans: int, width: float = 1.0) -> nn.Module:
    """MobileNetV2; `width` is its width multiplier (channels rounded to multiples of 8)."""
    return _torchvision_model("mobilenet_v2", num_classes, in_chans, width_mult=width)
