"""`timm:NAME`: any of timm's models as an architecture, built by timm's `create_model`."""

from __future__ import annotations

import pytest
import timm

from lightning_modules.errors import InputError
from lightning_modules.exported import timm_variant
from lightning_modules.recipes import named_recipe
from lightning_modules.specs import resolve_model


def test_a_timm_model_resolves_at_its_pretrained_input_size_and_is_counted():
    spec = resolve_model("timm:resnet10t")
    assert spec.resolution == timm.get_pretrained_cfg("resnet10t").input_size[-1]
    small = resolve_model("timm:resnet10t", 32)
    assert small.name == "timm-resnet10t_r32"  # fit for a folder: no colon
    size = small.size(10, 3)
    assert size["model/params"] > 4e6 and size["model/macs"] > 1e7


def test_it_trains_with_the_recipes_regularisers_where_timm_takes_them():
    network = resolve_model("timm:resnet10t", 32).build(10, 1, {"drop_rate": 0.25})
    assert network.drop_rate == 0.25 and network.num_classes == 10
    assert network.conv1[0].in_channels == 1  # in_chans reaches timm
    recipe = named_recipe("default")  # its drop_rate None: timm's own default
    assert resolve_model("timm:resnet10t", 32).build(10, 3, recipe.model_options()).drop_rate == 0


@pytest.mark.parametrize(
    ("arch", "scaling", "words"),
    [
        ("timm:convnext_tinyy", {}, ["unknown timm model", "timm:convnext_tiny"]),
        ("timm:no_such_net", {}, ["unknown timm model 'no_such_net'"]),
        ("convnext_tiny", {}, ["timm has it: timm:convnext_tiny"]),
        ("timm:resnet10t", {"width": 2.0}, ["width does not apply to timm:resnet10t"]),
        ("timm:resnet10t", {"stem": "cifar"}, ["has no cifar stem"]),
    ],
)
def test_a_name_or_setting_timm_lacks_is_one_line(arch, scaling, words):
    with pytest.raises(InputError) as error:
        resolve_model(arch, **scaling)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_an_export_of_a_timm_model_is_timms_own():
    assert timm_variant(resolve_model("timm:resnet10t", 32), 10, 3) == "resnet10t"
