"""AlexNet, VGG, ResNet and MobileNetV2: torchvision's reference implementations.

torchvision's versions are the ones whose parameter and MAC counts everybody quotes,
so they are used as they are; only the first convolution is adapted when the input
does not have 3 channels. A recipe's `drop_rate` replaces the classifier dropout of
AlexNet, VGG (0.5, the papers') and MobileNetV2 (0.2); `zero_init_last_bn` is torchvision's
`zero_init_residual` for ResNets.
"""

from __future__ import annotations

from functools import partial

import torchvision
from timm.models import adapt_input_conv
from torch import nn

from lightning_modules.architectures import register_model


def _torchvision_model(
    arch: str,
    num_classes: int,
    in_chans: int,
    drop_rate: float | None = None,
    zero_init_last_bn: bool = False,
    **kwargs,
) -> nn.Module:
    if drop_rate is not None:
        kwargs["dropout"] = drop_rate
    if zero_init_last_bn:
        kwargs["zero_init_residual"] = True
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


register_model(
    family="alexnet", year=2012, min_resolution=63, options=("drop_rate",), name="alexnet"
)(partial(_torchvision_model, "alexnet"))

for _depth in (11, 13, 16, 19):
    for _arch in (f"vgg{_depth}", f"vgg{_depth}_bn"):
        register_model(family="vgg", year=2014, options=("drop_rate",), name=_arch)(
            partial(_torchvision_model, _arch)
        )

for _depth in (18, 34, 50, 101, 152):
    register_model(
        family="resnet", year=2015, options=("zero_init_last_bn",), name=f"resnet{_depth}"
    )(partial(_torchvision_model, f"resnet{_depth}"))


@register_model(family="mobilenetv2", year=2018, scaling_keys=("width",), options=("drop_rate",))
def mobilenetv2(
    num_classes: int, in_chans: int, width: float = 1.0, drop_rate: float | None = None
) -> nn.Module:
    """MobileNetV2; `width` is its width multiplier (channels rounded to multiples of 8)."""
    return _torchvision_model(
        "mobilenet_v2", num_classes, in_chans, drop_rate=drop_rate, width_mult=width
    )
