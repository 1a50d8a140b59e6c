"""EfficientNet (Tan and Le 2019): timm's B0..B7, and B0 scaled by free width/depth.

`efficientnet(width, depth)` is what compound-scaling sweeps search over. B0 is data
(`B0_BLOCKS`, the paper's Table 1 in timm's block strings) decoded by timm's public
builder (`decode_arch_def`, `round_channels`, `EfficientNet`, `build_model_with_cfg`), so
the scaling rules are timm's: channels = width * c rounded to a multiple of 8 (never more
than 10% down), stage repeats = ceil(depth * n). `efficientnet(width=1, depth=1)` is B0
and `efficientnet(width=1.1, depth=1.2)` is B2 (at 260 px), weight for weight the model
timm's registered variant builds (tests/lightning_modules/test_architectures.py).

Dropout before the classifier grows with the model, as in the paper's reference code:
0.2 for B0 and B1 up to 0.5 for B7 (`PAPER_DROPOUT`); a free width interpolates it.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import timm
from timm.models import EfficientNet, build_model_with_cfg
from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, round_channels
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

# (width multiplier, dropout) of B0..B7 in the paper's reference code (efficientnet_params)
PAPER_DROPOUT = {
    "efficientnet_b0": (1.0, 0.2),
    "efficientnet_b1": (1.0, 0.2),
    "efficientnet_b2": (1.1, 0.3),
    "efficientnet_b3": (1.2, 0.3),
    "efficientnet_b4": (1.4, 0.4),
    "efficientnet_b5": (1.6, 0.4),
    "efficientnet_b6": (1.8, 0.5),
    "efficientnet_b7": (2.0, 0.5),
}
REGULARISERS = ("drop_rate", "drop_path_rate")

# EfficientNet-B0's stages (Tan and Le 2019, Table 1): block type, repeats, kernel, stride,
# expansion, output channels, squeeze-excitation ratio; width and depth scale them.
B0_BLOCKS = (
    ("ds_r1_k3_s1_e1_c16_se0.25",),
    ("ir_r2_k3_s2_e6_c24_se0.25",),
    ("ir_r2_k5_s2_e6_c40_se0.25",),
    ("ir_r3_k3_s2_e6_c80_se0.25",),
    ("ir_r3_k5_s1_e6_c112_se0.25",),
    ("ir_r4_k5_s2_e6_c192_se0.25",),
    ("ir_r1_k3_s1_e6_c320_se0.25",),
)
B0_STEM, B0_FEATURES = 32, 1280  # stem and head channels, before width scales the head


def paper_dropout(width: float) -> float:
    """The paper's dropout for a model of this width: its B-table, linear in between."""
    widths, rates = zip(*sorted(set(PAPER_DROPOUT.values())), strict=True)
    return round(float(np.interp(width, widths, rates)), 3)


@register_model(
    family="efficientnet", year=2019, scaling_keys=("width", "depth"), options=REGULARISERS
)
def efficientnet(
    num_classes: int,
    in_chans: int,
    width: float = 1.0,
    depth: float = 1.0,
    drop_rate: float | None = None,
    drop_path_rate: float = 0.0,
) -> nn.Module:
    channels = partial(round_channels, multiplier=width, divisor=8)
    return build_model_with_cfg(
        EfficientNet,
        "efficientnet_b0",  # names the pretrained config (mean, std, crop); B0's blocks scaled
        pretrained=False,
        block_args=decode_arch_def([list(stage) for stage in B0_BLOCKS], depth),
        num_features=channels(B0_FEATURES),
        stem_size=B0_STEM,
        round_chs_fn=channels,
        act_layer=resolve_act_layer({}, "swish"),
        num_classes=num_classes,
        in_chans=in_chans,
        drop_rate=paper_dropout(width) if drop_rate is None else drop_rate,
        drop_path_rate=drop_path_rate,
    )


def _timm_model(
    variant: str,
    num_classes: int,
    in_chans: int,
    drop_rate: float | None = None,
    drop_path_rate: float = 0.0,
) -> nn.Module:
    return timm.create_model(
        variant,
        pretrained=False,
        num_classes=num_classes,
        in_chans=in_chans,
        drop_rate=PAPER_DROPOUT[variant][1] if drop_rate is None else drop_rate,
        drop_path_rate=drop_path_rate,
    )


for _variant, _resolution in NATIVE_RESOLUTIONS.items():
    register_model(
        family="efficientnet", year=2019, native_resolution=_resolution, options=REGULARISERS,
        name=_variant,
    )(partial(_timm_model, _variant))  # fmt: skip
