"""Measuring real models: images/s, latency and memory, and the callback that measures a
trained model at the end of its last epoch."""

from __future__ import annotations

import time

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from lightning_modules.cost import MeasureCost
from lightning_modules.manifest import load_manifest
from lightning_modules.measure import (
    PeakMemory,
    count_macs,
    infer_images_per_sec,
    latency_ms,
    layer_macs,
    on_meta_device,
    profile_model,
    seconds_per_step,
    train_images_per_sec,
)
from lightning_modules.recipes import RECIPES
from lightning_modules.run import build_run, trainer_settings
from lightning_modules.specs import resolve_model


def test_rates_latency_and_memory_of_a_real_model():
    model = resolve_model("lenet5").build(10, 1)
    before = [p.clone() for p in model.parameters()]
    memory = PeakMemory(torch.device("cpu")).start()
    assert train_images_per_sec(model, 32, batch_size=8, in_chans=1, steps=2) > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert model.training  # the mode it was in
    model.eval()
    assert infer_images_per_sec(model, 32, batch_size=8, in_chans=1, steps=2) > 0
    assert not model.training
    assert 0 < latency_ms(model, 32, in_chans=1, steps=3) < 10_000
    assert memory.bytes() >= 0


def test_activations_are_the_lectures_memory_column():
    """LeNet-5 at 32x32: input 1024, conv 6x28x28, pool 6x14x14, conv 16x10x10, pool
    16x5x5, then 120, 84 and 10 values."""
    spec = resolve_model("lenet5")
    expected = 1024 + 4704 + 1176 + 1600 + 400 + 120 + 84 + 10
    assert profile_model(spec.build(10, 1), 32, 1).activations == expected
    assert spec.size(10, 1)["model/activations"] == expected


def test_the_last_epoch_reports_what_the_model_costs(digits_shards):
    spec = resolve_model("lenet5")
    recipe = RECIPES["demo"].with_overrides({"epochs": 2, "loader_workers": 0})
    classifier, data = build_run(digits_shards, load_manifest(digits_shards), spec, recipe)
    seen: list[set[str]] = []

    class Watch(pl.Callback):  # what the reporting callback sees after each epoch
        def on_train_epoch_end(self, trainer, pl_module):
            seen.append({key for key in trainer.callback_metrics if key.startswith("model/")})

    trainer = pl.Trainer(
        **trainer_settings(recipe),
        callbacks=[MeasureCost(spec.resolution, 1), Watch()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=3,
        limit_val_batches=2,
    )
    trainer.fit(classifier, datamodule=data)
    measured = {"model/infer_images_per_sec", "model/latency_ms", "model/peak_memory_mb"}
    assert seen == [set(), measured]  # measured once, after the last epoch only
    assert all(
        float(trainer.callback_metrics[key]) > 0 for key in measured - {"model/peak_memory_mb"}
    )


def test_one_cpu_thread_is_timed_in_cpu_time_not_wall_time():
    """Waiting (another process holding the core) costs wall time, not CPU time."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert seconds_per_step(lambda: time.sleep(0.05), 2, torch.device("cpu")) < 0.02
        torch.set_num_threads(2)
        assert seconds_per_step(lambda: time.sleep(0.05), 2, torch.device("cpu")) >= 0.05
    finally:
        torch.set_num_threads(before)


def test_peak_memory_measures_the_run_in_a_process_that_was_bigger_before():
    """ru_maxrss, a high-water mark of the process's life, grew by 0 here: the run needed
    less than the 1 GiB the process held before. The reset peak sees the run's own."""
    big = torch.ones(2**28)  # 1 GiB, every page touched
    del big
    model = resolve_model("resnet18", 64).build(10, 3)
    memory = PeakMemory(torch.device("cpu")).start()
    train_images_per_sec(model, 64, batch_size=16, steps=1)
    assert 10 * 2**20 < memory.bytes() < 2**30  # activations and gradients of a small run


def test_counting_leaves_a_real_model_as_it_was_and_counts_what_its_meta_twin_counts():
    """Counting skips BatchNorm and a meta build skips the initialisers: neither may show.
    The real model's forward is the same after profiling, and so are the counts."""
    spec = resolve_model("resnet18", 64)
    model = spec.build(10)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model.eval()(images)
        real = profile_model(model, 64)
        assert torch.equal(model(images), before)  # BatchNorm normalises again
    with on_meta_device():
        twin = spec.build(10)
    assert next(twin.parameters()).is_meta
    meta = profile_model(twin, 64)
    assert (meta.params, meta.macs, meta.layers) == (real.params, real.macs, real.layers)


def test_a_meta_build_gives_back_the_initialisers_even_when_it_fails():
    initialisers = (nn.init.normal_, nn.init.kaiming_uniform_, nn.init.zeros_)
    with pytest.raises(RuntimeError), on_meta_device():
        assert nn.init.normal_(torch.ones(2, device="cpu")).eq(1).all()  # left as it was
        raise RuntimeError("a builder failed")
    assert (nn.init.normal_, nn.init.kaiming_uniform_, nn.init.zeros_) == initialisers
    assert not nn.init.normal_(torch.ones(1000)).eq(1).all()


@pytest.mark.parametrize("stem", [None, "cifar"])
def test_layer_macs_is_the_flop_counters_count_on_every_zoo_network(stem):
    """The dry run's fast count is exact only where convolutions and linear layers are the
    only products: true of every architecture the zoo builds, at any scaling."""
    from lightning_modules.architectures import list_models, model_info

    for arch in list_models():
        info = model_info(arch)
        scaling = {key: 1.3 for key in info.scaling_keys}
        try:
            spec = resolve_model(arch, 32 if stem else None, stem, **scaling)
        except ValueError:  # no cifar stem for this family
            continue
        with on_meta_device():
            network = spec.build(10, 3)
        assert layer_macs(network, spec.resolution) == count_macs(network, spec.resolution), arch
