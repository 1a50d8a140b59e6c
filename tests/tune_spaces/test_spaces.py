"""The search spaces: the compound-scaling constraint holds in counted MACs, not just on paper."""

from __future__ import annotations

import pytest

import tune_spaces
from lightning_modules.measure import count_macs
from lightning_modules.specs import ModelSpec, TrialConfig, resolve_model
from tune_spaces import compound_scaling, efficientnet_family, models_of


def macs_of(model: ModelSpec, num_classes: int = 1000) -> int:
    return count_macs(model.build(num_classes), model.resolution)


@pytest.mark.slow
def test_every_kept_point_meets_the_constraint_in_counted_macs(capsys):
    """The paper's default grid: the formula and real (rounded) networks must both agree."""
    models = models_of(compound_scaling.space())
    assert "dropped" in capsys.readouterr().err  # ceil(depth*n) makes some points cost ~3x
    assert len(models) >= 10
    base = macs_of(resolve_model("efficientnet", 224, width=1.0, depth=1.0))
    for model in models:  # counted on a real CPU model (the space counts on a meta one)
        factor = model.alpha * model.beta**2 * model.gamma**2
        assert abs(factor / 2 - 1) <= 0.05, model
        assert model.resolution == round(224 * model.gamma)
        assert (model.depth, model.width) == (model.alpha, model.beta)
        assert 1.6 <= model.macs_ratio <= 2.4, model
    for model in models[:: len(models) // 3]:  # the meta-device count is the real one
        assert macs_of(model) / base == pytest.approx(model.macs_ratio, rel=1e-3)


def test_macs_tolerance_zero_keeps_the_papers_whole_grid():
    coarse = {"alphas": "1.0,1.2,1.4", "betas": "1.0,1.2,1.4", "gammas": "1.0,1.2,1.4"}
    everything = models_of(compound_scaling.space(macs_tolerance=0, **coarse))
    factors = [m.alpha * m.beta**2 * m.gamma**2 for m in everything]
    assert len(everything) == sum(1 for f in factors if abs(f / 2 - 1) <= 0.05) == 5
    assert len(models_of(compound_scaling.space(**coarse))) < len(everything)


def test_family_grows_about_two_to_the_phi():
    models = models_of(efficientnet_family.space(phis="0,1,2,3"))
    macs = [macs_of(model) for model in models]
    for phi in (1, 2, 3):
        ratio = macs[phi] / macs[0]
        assert 0.75 * 2**phi <= ratio <= 1.3 * 2**phi, (phi, ratio)


def test_demo_grid_is_the_four_ways_to_double():
    models = models_of(tune_spaces.load("demo")())
    points = {(m.alpha, m.beta, m.gamma) for m in models}
    assert points == {(2.0, 1.0, 1.0), (1.0, 1.4, 1.0), (1.0, 1.0, 1.4), (1.2, 1.1, 1.15)}
    assert sorted(m.resolution for m in models) == [48, 48, 55, 67]
    assert all(1.6 <= m.macs_ratio <= 2.4 for m in models)


def test_ladder_trains_each_arch_at_its_native_resolution():
    models = {m.arch: m.resolution for m in models_of(tune_spaces.load("ladder")())}
    assert models["lenet5"] == 32 and models["resnet50"] == 224
    assert set(models) >= {"alexnet", "vgg16", "mobilenetv2", "efficientnet_b0", "resnet152"}


def test_overrides_are_typed_and_checked():
    space = compound_scaling.space(epochs="3", lr="0.2", tolerance="0.1", alphas="1.0,2.0")
    assert space.recipe["epochs"] == 3 and space.recipe["lr"] == 0.2
    with pytest.raises(ValueError, match="no setting 'epochz'"):
        compound_scaling.space(epochz="3")
    with pytest.raises(ValueError, match="expected an integer"):
        compound_scaling.space(epochs="three")


def test_a_grid_the_constraint_empties_is_an_error():
    with pytest.raises(ValueError, match="no grid point"):
        compound_scaling.space(alphas="1.0", betas="1.0", gammas="1.0")


def test_unknown_space_lists_the_valid_ones():
    with pytest.raises(ValueError, match="compound_scaling, efficientnet_family, ladder, demo"):
        tune_spaces.load("nosuch")


def test_single_dimension_scales_one_dimension_per_model_from_one_base():
    models = models_of(tune_spaces.load("single_dimension")())
    assert len(models) == 7  # the base once, then two more points on each dimension
    base = models[0]
    assert (base.alpha, base.beta, base.gamma, base.resolution) == (1.0, 1.0, 1.0, 48)
    scaled = {
        (m.alpha, m.beta, m.gamma): m
        for m in models[1:]
        if [m.alpha, m.beta, m.gamma].count(1.0) == 2
    }
    assert len(scaled) == 6  # every other model scales exactly one dimension
    assert [m.width for m in models if m.beta != 1] == [2.0, 3.0]
    assert [m.depth for m in models if m.alpha != 1] == [2.0, 4.0]
    assert [m.resolution for m in models if m.gamma != 1] == [72, 96]
    wide = next(m for m in models if m.beta == 3.0)
    assert 7 <= wide.macs_ratio <= 11  # ~width squared: counted, not assumed


def test_single_dimension_takes_the_papers_ranges():
    paper = tune_spaces.load("single_dimension")(
        widths="1.0,1.4,1.8,2.6,3.8,5.0", depths="1,2,3,4,6,8",
        resolution_multipliers="1.0,1.16,1.34,1.7,2.05,2.5", base_resolution="224",
    )  # fmt: skip
    models = models_of(paper)
    assert len(models) == 1 + 5 + 5 + 5
    assert max(m.width for m in models) == 5.0 and max(m.depth for m in models) == 8.0
    assert sorted(m.resolution for m in models if m.gamma != 1) == [260, 300, 381, 459, 560]


def test_width_by_depth_resolution_is_a_width_sweep_per_pair():
    models = models_of(tune_spaces.load("width_by_depth_resolution")())
    pairs = {(m.alpha, m.gamma) for m in models}
    assert pairs == {(1.0, 1.0), (2.0, 1.0), (1.0, 1.3), (2.0, 1.3)}
    for depth, gamma in pairs:
        curve = [m for m in models if (m.alpha, m.gamma) == (depth, gamma)]
        assert [m.width for m in curve] == [1.0, 1.5, 2.0]
        assert {m.depth for m in curve} == {depth}
        assert {m.resolution for m in curve} == {round(48 * gamma)}


def test_fashion_mnist_puts_the_ladder_at_32_px_with_the_cifar_stem():
    space = tune_spaces.load("fashion_mnist")
    models = {m.arch: m for m in models_of(space())}
    assert list(models) == [
        "lenet5", "alexnet", "vgg16", "resnet18", "mobilenetv2", "efficientnet_b0"
    ]  # fmt: skip
    assert {m.resolution for m in models.values()} == {32}
    assert models.pop("lenet5").stem is None  # a 32-px network already
    assert {m.stem for m in models.values()} == {"cifar"}
    narrow = models_of(space(archs="lenet5,mobilenetv2", width="0.5", stem="imagenet"))
    assert [(m.width, m.stem) for m in narrow] == [(None, None), (0.5, None)]
    assert space().recipe["crop_pct"] == 1.0  # the fashion_mnist recipe: images whole


def test_every_trial_ray_resolves_reads_back_as_a_typed_trial_config():
    """What a sweep grids (its drawn trials, seeds after models) comes back through
    `TrialConfig.of` as the specs it was made from: one ModelSpec, one Recipe with its
    seed, the data folder."""
    from ray.tune.search.variant_generator import generate_variants

    from pipeline.sweep.config import SweepConfig
    from pipeline.sweep.search import drawn_trials, tune_param_space
    from tune_spaces import ladder

    space = tune_spaces.load("ladder")(archs="lenet5,resnet18")
    config = SweepConfig(space=space, seeds=2, data="shards")
    param_space = tune_param_space(config, drawn_trials(config), "shards")
    configs = [TrialConfig.of(resolved) for _, resolved in generate_variants(param_space)]
    assert [(c.model.arch, c.seed) for c in configs] == [
        ("lenet5", 0), ("resnet18", 0), ("lenet5", 1), ("resnet18", 1),
    ]  # fmt: skip
    assert configs[1].model == resolve_model("resnet18")
    assert {c.recipe.epochs for c in configs} == {ladder.RECIPE.epochs}
    assert {c.data for c in configs} == {"shards"}
