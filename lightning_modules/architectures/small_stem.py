"""The `cifar` stem: the lecture's ImageNet networks adapted to 28-32 px inputs.

At 224 px every ImageNet network first divides the image by 4 (a strided stem, a
max-pool) before its stages divide it by 8 more. A 32 px image would reach the last
stages at 1x1, so CIFAR papers keep the stages and change the entrance:
  - ResNet: a 3x3 stride-1 first convolution and no max-pool (He et al. 2016, sec. 4.2;
    every CIFAR ResNet since): the stages then see 32, 16, 8 and 4 px;
  - MobileNetV2 and EfficientNet: stride 1 in the stem and in the first stride-2 block,
    as the CIFAR MobileNetV2s do ("change conv1 stride 2 -> 1 for CIFAR10" and the
    24-channel stage at stride 1, kuangliu/pytorch-cifar), so they too end at 4x4;
  - AlexNet: a 3x3 stride-1 first convolution for its 11x11 stride-4 one;
  - VGG: no stem to change (its 3x3 convolutions already keep the size); its 7x7 average
    pool and 25,088-input classifier become one linear layer on the 512 final channels,
    as the CIFAR VGGs have it (Liu & Deng 2015).
Everything after is the ImageNet network unchanged, built by the same factory; the
profiler counts the adapted model, so its MACs and parameters are exact.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

# The smallest input each family takes with the cifar stem: its total stride (8), or the
# size AlexNet's three 3x3/2 max-pools need; VGG keeps its five max-pools.
MIN_RESOLUTION = {"resnet": 8, "mobilenetv2": 8, "efficientnet": 8, "alexnet": 15, "vgg": 32}


def _stride_one(conv: nn.Conv2d) -> None:
    conv.stride = (1, 1)


def _kaiming(conv: nn.Conv2d) -> nn.Conv2d:
    """torchvision's own init for the convolutions of these models."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _resnet(model: nn.Module) -> None:
    conv = model.conv1
    model.conv1 = _kaiming(nn.Conv2d(conv.in_channels, conv.out_channels, 3, 1, 1, bias=False))
    model.maxpool = nn.Identity()


def _mobilenetv2(model: nn.Module) -> None:
    _stride_one(model.features[0][0])
    _stride_one(model.features[2].conv[1][0])  # the first stride-2 block's depthwise conv


def _efficientnet(model: nn.Module) -> None:
    _stride_one(model.conv_stem)
    _stride_one(model.blocks[1][0].conv_dw)  # the first stride-2 block (24 channels in B0)


def _alexnet(model: nn.Module) -> None:
    conv = model.features[0]
    model.features[0] = _kaiming(nn.Conv2d(conv.in_channels, conv.out_channels, 3, 1, 1))


def _vgg(model: nn.Module) -> None:
    dropout = model.classifier[2].p
    classes = model.classifier[-1].out_features
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    model.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(512, classes))


ADAPT: dict[str, Callable[[nn.Module], None]] = {
    "resnet": _resnet,
    "mobilenetv2": _mobilenetv2,
    "efficientnet": _efficientnet,
    "alexnet": _alexnet,
    "vgg": _vgg,
}


def with_small_stem(model: nn.Module, family: str) -> nn.Module:
    """`model` (of `family`) with the cifar stem, changed in place; see the module doc."""
    ADAPT[family](model)
    return model
