"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), the first rung of the ladder.

Layers keep the paper's names: C1 6@5x5, S2 subsampling, C3 16@5x5, S4 subsampling,
C5 120@5x5, F6 84, output. Two simplifications, both usual today: S2/S4 are plain 2x2
average pools (the paper's add a trainable coefficient and bias), and C3 connects to all
six S2 maps (the paper's sparse table is a 1998 compute saving) with a linear output
instead of the RBF units. That makes 61,706 parameters for 10 classes and 1 channel.
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_modules.architectures import register_model


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(in_chans, 6, kernel_size=5)
        self.s2 = nn.AvgPool2d(2)
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)
        self.s4 = nn.AvgPool2d(2)
        # Identity at the classic 32x32 input; at larger inputs it averages S4's maps down
        # to the 5x5 that C5 expects, so the network (and its size) stays LeNet-5.
        self.fit = nn.AdaptiveAvgPool2d(5)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s2(torch.tanh(self.c1(x)))
        x = self.s4(torch.tanh(self.c3(x)))
        x = torch.tanh(self.c5(self.fit(x))).flatten(1)
        return self.output(torch.tanh(self.f6(x)))


@register_model(family="lenet", year=1998, native_resolution=32)
def lenet5(num_classes: int, in_chans: int) -> LeNet5:
    return LeNet5(num_classes, in_chans)
