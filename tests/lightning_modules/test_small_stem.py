"""The cifar stem: the ladder's networks at 28-32 px, as the CIFAR papers adapt them."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lightning_modules.architectures import build_model
from lightning_modules.errors import InputError
from lightning_modules.measure import count_macs
from lightning_modules.specs import ModelSpec, resolve_model

SMALL = ["alexnet", "vgg16", "resnet18", "resnet50", "mobilenetv2", "efficientnet",
         "efficientnet_b0"]  # fmt: skip


def feature_sides(model: nn.Module, resolution: int, in_chans: int = 1) -> list[int]:
    """The spatial side of every convolution's output, in execution order."""
    sides: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sides.append(out.shape[-1]))
             for m in model.modules() if isinstance(m, nn.Conv2d)]  # fmt: skip
    with torch.no_grad():
        model.eval()(torch.zeros(1, in_chans, resolution, resolution))
    for hook in hooks:
        hook.remove()
    return sides


@pytest.mark.parametrize("arch", SMALL)
def test_at_32_px_the_stages_see_what_they_see_at_128_px_with_the_imagenet_stem(arch):
    """The stem takes out the entrance's factor 4 (VGG has none: the same at 32 px), so
    the stages after it work at the sizes they were designed for, down to 4x4, not 1x1."""
    factor = 1 if arch.startswith("vgg") else 4
    cifar = feature_sides(build_model(arch, 10, 1, stem="cifar"), 32)
    imagenet = feature_sides(build_model(arch, 10, 1), 32 * factor)
    assert cifar[0] == 32  # the first convolution keeps the input's size (stride 1)
    assert len(cifar) == len(imagenet)  # the same network after its entrance
    half = len(cifar) // 2
    assert cifar[half:] == imagenet[half:] and cifar[-1] >= 2


def test_resnet_is_the_cifar_resnet_of_he_et_al():
    model = build_model("resnet18", 10, 3, stem="cifar")
    assert (model.conv1.kernel_size, model.conv1.stride) == ((3, 3), (1, 1))
    assert isinstance(model.maxpool, nn.Identity)
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # CIFAR ResNet18's count


@pytest.mark.parametrize("arch", SMALL)
def test_the_profiler_counts_the_adapted_network(arch):
    spec = resolve_model(arch, 32, "cifar")
    counted = spec.size(10, 1)["model/macs"]
    assert counted == count_macs(build_model(arch, 10, 1, stem="cifar"), 32, 1)  # real model
    assert counted != resolve_model(arch, 224).size(10, 1)["model/macs"]


def test_the_stem_travels_in_the_spec_and_its_name():
    spec = resolve_model("resnet18", 32, "cifar")
    assert spec.name == "resnet18_cifar_r32" and spec.to_dict()["stem"] == "cifar"
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert "stem" not in resolve_model("resnet18", 224).to_dict()  # the default is not a param
    assert resolve_model("resnet18", 224, "imagenet") == resolve_model("resnet18", 224)


@pytest.mark.parametrize(
    ("arch", "resolution", "stem", "expected"),
    [
        ("lenet5", 32, "cifar", "lenet5 has no cifar stem"),
        ("vgg16", 16, "cifar", "too small for vgg16 with the cifar stem: its minimum is 32"),
        ("resnet18", 4, "cifar", "its minimum is 8"),
        ("resnet18", 32, "tiny", "stem 'tiny': expected one of imagenet, cifar"),
        ("resnet18", 16, None, "its minimum is 32"),
    ],
)
def test_bad_stems_and_sizes_are_refused(arch, resolution, stem, expected):
    with pytest.raises(InputError, match=expected):
        resolve_model(arch, resolution, stem)


def test_train_and_profile_take_the_stem_flag(capsys):
    from pipeline.cli import main

    argv = ["profile", "resnet18", "--resolution", "32", "--stem", "cifar", "--classes", "10"]
    assert main([*argv, "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert (described["stem"], described["macs"]) == ("cifar", 555_422_720)
    assert main(["profile", "lenet5", "--stem", "cifar"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
