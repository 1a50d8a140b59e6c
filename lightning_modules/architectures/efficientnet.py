"""EfficientNet (Tan and Le 2019): timm's B0..B7, and B0 scaled by free width/depth.

`efficientnet(width, depth)` is what compound-scaling sweeps search over. It goes
through timm's own generator with B0's block definition, so the scaling rules are
timm's: channels = width * c rounded to a multiple of 8 (never more than 10% down),
stage repeats = ceil(depth * n). `efficientnet(width=1, depth=1)` is B0, and
`efficientnet(width=1.1, depth=1.2)` is B2 (at 260 px).
"""

from __future__ import annotations

from functools import partial

import timm
from timm.models.efficientnet import _gen_efficientnet
from torch import nn

from lightning_modules.architectures import register_model

# The paper's input resolution for each compound-scaled variant.
NATIVE_RESOLUTIONS = {
    "efficientnet_b0": 224,
    "efficientnet_b1": 240,
    "efficientnet_b2": 260,
    "efficientnet_b3": 300,
    "efficientnet_b4": 380,
    "efficientnet_b5": 456,
    "efficientnet_b6": 528,
    "efficientnet_b7": 600,
}


@register_model(family="efficientnet", year=2019, scaling_keys=("width", "depth"))
def efficientnet(
    num_classes: int, in_chans: int, width: float = 1.0, depth: float = 1.0
) -> nn.Module:
    return _gen_efficientnet(
        "efficientnet_b0",  # only names the (unused) pretrained config; B0's blocks are built
        channel_multiplier=width,
        depth_multiplier=depth,
        pretrained=False,
        num_classes=num_classes,
        in_chans=in_chans,
    )


def _timm_model(variant: str, num_classes: int, in_chans: int) -> nn.Module:
    return timm.create_model(variant, pretrained=False, num_classes=num_classes, in_chans=in_chans)


for _variant, _resolution in NATIVE_RESOLUTIONS.items():
    register_model(family="efficientnet", year=2019, native_resolution=_resolution, name=_variant)(
        partial(_timm_model, _variant)
    )
