import json
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual

from lightning_modules.architectures import build_model
from lightning_modules.measure import count_macs, profile_model
from lightning_modules.specs import resolve_model
from pipeline.cli import main
from pipeline.report.profile import profile_spec

G = 1e9

# The lecture's VGG-16 table (CS231n): layer, output [HxWxC], memory (values), params.
VGG16_LECTURE = [
    ("input", [224, 224, 3], 224 * 224 * 3, 0),
    ("conv3-64", [224, 224, 64], 224 * 224 * 64, (3 * 3 * 3) * 64),
    ("conv3-64", [224, 224, 64], 224 * 224 * 64, (3 * 3 * 64) * 64),
    ("maxpool2", [112, 112, 64], 112 * 112 * 64, 0),
    ("conv3-128", [112, 112, 128], 112 * 112 * 128, (3 * 3 * 64) * 128),
    ("conv3-128", [112, 112, 128], 112 * 112 * 128, (3 * 3 * 128) * 128),
    ("maxpool2", [56, 56, 128], 56 * 56 * 128, 0),
    ("conv3-256", [56, 56, 256], 56 * 56 * 256, (3 * 3 * 128) * 256),
    ("conv3-256", [56, 56, 256], 56 * 56 * 256, (3 * 3 * 256) * 256),
    ("conv3-256", [56, 56, 256], 56 * 56 * 256, (3 * 3 * 256) * 256),
    ("maxpool2", [28, 28, 256], 28 * 28 * 256, 0),
    ("conv3-512", [28, 28, 512], 28 * 28 * 512, (3 * 3 * 256) * 512),
    ("conv3-512", [28, 28, 512], 28 * 28 * 512, (3 * 3 * 512) * 512),
    ("conv3-512", [28, 28, 512], 28 * 28 * 512, (3 * 3 * 512) * 512),
    ("maxpool2", [14, 14, 512], 14 * 14 * 512, 0),
    ("conv3-512", [14, 14, 512], 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("conv3-512", [14, 14, 512], 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("conv3-512", [14, 14, 512], 14 * 14 * 512, (3 * 3 * 512) * 512),
    ("maxpool2", [7, 7, 512], 7 * 7 * 512, 0),
    ("fc-4096", [4096], 4096, 7 * 7 * 512 * 4096),
    ("fc-4096", [4096], 4096, 4096 * 4096),
    ("fc-1000", [1000], 1000, 4096 * 1000),
]


def ladder_profile(capsys, *argv: str) -> dict:
    assert main(["profile", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_vgg16_rows_are_the_lecture_table(capsys):
    described = ladder_profile(capsys, "vgg16")
    rows = [
        (layer["kind"], layer["output_shape"], layer["activations"], layer["params"])
        for layer in described["layers"]
    ]
    assert rows == VGG16_LECTURE
    assert described["params"] == 138_357_544  # weights plus biases: "138M"
    assert described["macs"] == sum(layer["macs"] for layer in described["layers"])
    assert described["macs"] == pytest.approx(15.5 * G, rel=0.01)
    assert (described["arch"], described["resolution"], described["num_classes"]) == (
        "vgg16",
        224,
        1000,
    )


def test_table_shows_layers_and_labelled_totals(capsys):
    assert main(["profile", "lenet5", "--classes", "10", "--in-chans", "1"]) == 0
    table = capsys.readouterr().out
    assert "c1      conv5-6    28x28x6             4,704      150       6" in table
    assert "c5      conv5-120  1x1x120" in table
    assert "fit" not in table  # identity at 32x32: the classic network, row for row
    assert "61,706" in table
    assert "MACs (multiply-accumulates = FLOPs/2)" in table


def test_a_notebook_gets_the_commands_profile_from_values(capsys):
    """The library takes values, not flags: the table and JSON of `ladder profile`."""
    result = profile_spec(resolve_model("lenet5"), classes=10, in_chans=1)
    argv = ["lenet5", "--classes", "10", "--in-chans", "1"]
    assert json.loads(json.dumps(result.to_dict())) == ladder_profile(capsys, *argv)
    assert main(["profile", *argv]) == 0
    assert capsys.readouterr().out == result.table() + "\n"


@pytest.mark.parametrize(
    ("name", "giga_macs"), [("resnet34", 3.6), ("resnet50", 3.8), ("resnet152", 11.3)]
)
def test_resnet_macs_match_the_paper(name, giga_macs):
    assert count_macs(build_model(name), 224) == pytest.approx(giga_macs * G, rel=0.10)


def test_efficientnet_b0_size_and_macs_match_the_paper():
    profile = profile_model(build_model("efficientnet_b0"), 224)
    assert profile.params == pytest.approx(5.3e6, rel=0.05)
    assert profile.macs == pytest.approx(0.39 * G, rel=0.05)


def test_inverted_residual_costs_the_same_as_the_3x3_conv_it_replaces():
    """The lecture's MobileNetV2 claim: expand C->qC, depthwise 3x3, project qC->C costs
    qC(2C + 9) MACs per pixel, a full 3x3 C->C conv 9C^2: equal when q = 9C / (2C + 9)."""
    channels, side = 64, 56
    expansion = 9 * channels / (2 * channels + 9)
    block = InvertedResidual(channels, channels, stride=1, expand_ratio=expansion)
    conv = nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
    block_macs = count_macs(block, side, in_chans=channels)
    assert block_macs == pytest.approx(count_macs(conv, side, in_chans=channels), rel=0.05)


def test_profile_and_count_macs_agree_and_leave_the_model_as_it_was():
    model = build_model("resnet18").train()
    profile = profile_model(model, 64)
    assert profile.macs == count_macs(model, 64)
    assert model.training
    assert not any(module._forward_hooks or module._forward_pre_hooks for module in model.modules())


def test_cli_profiles_on_meta_like_a_real_model(capsys):
    real = profile_model(build_model("mobilenetv2", num_classes=10, in_chans=1), 64, in_chans=1)
    described = ladder_profile(
        capsys, "mobilenetv2", "--resolution", "64", "--classes", "10", "--in-chans", "1"
    )
    assert (described["params"], described["macs"]) == (real.params, real.macs)
    assert [layer["activations"] for layer in described["layers"]] == [
        row.activations for row in real.layers
    ]


def test_defaults_to_native_resolution_and_reports_scaling(capsys):
    assert ladder_profile(capsys, "efficientnet_b3")["resolution"] == 300
    scaled = ladder_profile(capsys, "efficientnet", "--width", "1.2", "--depth", "1.4")
    assert (scaled["width"], scaled["depth"], scaled["resolution"]) == (1.2, 1.4, 224)
    assert scaled["macs"] > ladder_profile(capsys, "efficientnet")["macs"]


def test_larger_lenet_input_gets_the_fitting_pool_row(capsys):
    layers = ladder_profile(capsys, "lenet5", "--resolution", "64")["layers"]
    fit = next(layer for layer in layers if layer["name"] == "fit")
    assert fit["output_shape"] == [5, 5, 16]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuch"], "unknown architecture 'nosuch'; valid: lenet5, alexnet,"),
        (["resnet50", "--resolution", "8"], "minimum is 32"),
        (["resnet50", "--width", "2"], "width does not apply to resnet50"),
        (["mobilenetv2", "--depth", "2"], "depth does not apply to mobilenetv2"),
        (["efficientnet", "--width", "0"], "width must be positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    assert main(["profile", *argv]) == 2
    stderr = capsys.readouterr().err
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_console_script():
    ladder = Path(sys.executable).with_name("ladder")
    done = subprocess.run(
        [ladder, "profile", "lenet5", "--classes", "10", "--in-chans", "1", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["params"] == 61_706
    failed = subprocess.run([ladder, "profile", "nosuch"], capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "valid:" in failed.stderr
