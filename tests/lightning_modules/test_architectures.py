import math

import pytest
import torch
import torchvision
from torch import nn

from lightning_modules.architectures import build_model, list_models, model_info

LADDER = [
    "lenet5",
    "alexnet",
    *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
    "mobilenetv2",
    "efficientnet",
    *(f"efficientnet_b{i}" for i in range(8)),
]
# ~2 s each to build, on the same builder as vgg11 and vgg16: `make test` runs them
SLOW_TO_BUILD = {"vgg13", "vgg13_bn", "vgg16_bn", "vgg19", "vgg19_bn"}


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def logits(model: nn.Module, in_chans: int, resolution: int) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.randn(2, in_chans, resolution, resolution))


def test_every_rung_of_the_ladder_is_registered_in_year_order():
    assert sorted(list_models()) == sorted(LADDER)
    years = [model_info(name).year for name in list_models()]
    assert years == sorted(years)


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_TO_BUILD else name
             for name in LADDER],
)  # fmt: skip
def test_forward_at_minimum_resolution_gives_one_logit_per_class(name):
    resolution = model_info(name).min_resolution
    out = logits(build_model(name, num_classes=7), 3, resolution)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "name", ["lenet5", "alexnet", "vgg11_bn", "resnet18", "mobilenetv2", "efficientnet"]
)
def test_one_channel_input_works_for_every_family(name):
    model = build_model(name, num_classes=10, in_chans=1)
    assert logits(model, 1, model_info(name).min_resolution).shape == (2, 10)


def test_alexnet_minimum_resolution_is_the_real_one():
    model = build_model("alexnet").eval()
    assert logits(model, 3, 63).shape == (2, 1000)
    with pytest.raises(RuntimeError):
        logits(model, 3, 62)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("resnet50", 25_557_032),
        ("vgg16", 138_357_544),
        ("alexnet", 61_100_840),
        ("efficientnet_b0", 5_288_548),
    ],
)
def test_parameter_counts_match_the_published_models(name, expected):
    assert param_count(build_model(name)) == expected


def test_lenet5_is_the_61_7k_parameter_network_at_any_resolution():
    model = build_model("lenet5", num_classes=10, in_chans=1)
    assert param_count(model) == 61_706
    assert logits(model, 1, 32).shape == logits(model, 1, 96).shape == (2, 10)


B_SCALES = [("efficientnet_b0", 1, 1), ("efficientnet_b2", 1.1, 1.2)]


@pytest.mark.parametrize(("variant", "width", "depth"), B_SCALES)
def test_free_efficientnet_at_b_scale_is_timms_variant_weight_for_weight(variant, width, depth):
    """B0's blocks decoded by timm's builder at (width, depth) are timm's registered
    variant: the same layers, the same initial weights from the same seed."""
    torch.manual_seed(0)
    ours = build_model("efficientnet", num_classes=10, width=width, depth=depth).state_dict()
    torch.manual_seed(0)
    timms = build_model(variant, num_classes=10).state_dict()
    assert list(ours) == list(timms)
    assert all(torch.equal(ours[key], timms[key]) for key in ours)


def test_efficientnet_scaling_rounds_channels_to_8_and_ceils_repeats():
    width, depth = 1.3, 1.7
    model = build_model("efficientnet", width=width, depth=depth)
    b0_repeats = [1, 2, 2, 3, 3, 4, 1]
    b0_channels = [16, 24, 40, 80, 112, 192, 320]
    assert [len(stage) for stage in model.blocks] == [math.ceil(depth * n) for n in b0_repeats]
    for stage, channels in zip(model.blocks, b0_channels, strict=True):
        convs = [module for module in stage[-1].modules() if isinstance(module, nn.Conv2d)]
        out_channels = convs[-1].out_channels
        assert out_channels % 8 == 0
        assert 0.9 * width * channels <= out_channels <= width * channels + 4


def test_mobilenetv2_width_is_torchvisions_width_mult():
    ours = build_model("mobilenetv2", width=0.5)
    reference = torchvision.models.mobilenet_v2(weights=None, width_mult=0.5)
    assert param_count(ours) == param_count(reference)
    assert param_count(ours) < param_count(build_model("mobilenetv2"))


def test_metadata_for_charts_and_resolutions():
    expected_years = {
        "lenet5": 1998,
        "alexnet": 2012,
        "vgg16": 2014,
        "resnet50": 2015,
        "mobilenetv2": 2018,
        "efficientnet_b0": 2019,
    }
    assert {name: model_info(name).year for name in expected_years} == expected_years
    assert model_info("vgg19_bn").family == "vgg"
    native = [model_info(f"efficientnet_b{i}").native_resolution for i in range(8)]
    assert native == [224, 240, 260, 300, 380, 456, 528, 600]
    assert model_info("lenet5").native_resolution == 32
    assert model_info("efficientnet").scaling_keys == ("width", "depth")
    assert model_info("resnet50").scaling_keys == ()


def test_unknown_architecture_lists_the_valid_ones():
    with pytest.raises(ValueError, match="nosuch.*resnet50.*efficientnet_b7"):
        build_model("nosuch")


def test_unknown_scaling_key_names_it_and_the_accepted_keys():
    with pytest.raises(ValueError, match="depth.*accepted: width"):
        build_model("mobilenetv2", depth=2.0)
    with pytest.raises(ValueError, match="width.*accepted: none"):
        build_model("resnet18", width=2.0)


def test_non_positive_multiplier_is_refused():
    with pytest.raises(ValueError, match="width must be positive"):
        build_model("efficientnet", width=0)
