"""The recipe knobs, each shown to act: the schedule, the lr scaling rule, the EMA, mixup,
drop path, dropout, zero-init, BatchNorm momentum, AutoAugment and random erasing, and
the named recipes themselves."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from timm.layers import DropPath
from timm.loss import SoftTargetCrossEntropy
from torch import nn

from lightning_modules.classifier import ImageClassifier, build_schedule, global_lr, top_k_accuracy
from lightning_modules.data import ShardDataModule
from lightning_modules.errors import InputError
from lightning_modules.recipes import CATALOGUE, RECIPES, named_recipe
from lightning_modules.run import build_run, trainer_settings
from lightning_modules.specs import Recipe, resolve_model
from pipeline.cli import main
from tune_spaces import resolve


def lr_after(recipe: Recipe, updates: int, steps_per_epoch: int = 10) -> float:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=recipe.lr)
    schedule = build_schedule(optimizer, recipe, steps_per_epoch)
    schedule.step_update(num_updates=updates)
    return optimizer.param_groups[0]["lr"]


def test_the_step_schedule_follows_its_formula():
    # 1 warm-up epoch of 10 updates from 0.001, then x0.97 every 2.4 epochs (24 updates)
    recipe = Recipe(lr=0.1, schedule="step", warmup_epochs=1, warmup_lr=0.001,
                    decay_epochs=2.4, decay_rate=0.97, epochs=20)  # fmt: skip
    assert lr_after(recipe, 0) == pytest.approx(0.001)
    assert lr_after(recipe, 5) == pytest.approx(0.001 + 5 * (0.1 - 0.001) / 10)
    for update in (10, 33, 34, 58, 10 + 24 * 7 + 3):
        expected = 0.1 * 0.97 ** ((update - 10) // 24)
        assert lr_after(recipe, update) == pytest.approx(expected), update


def test_the_cosine_schedule_reaches_zero_at_the_last_step():
    recipe = Recipe(lr=0.1, schedule="cosine", warmup_epochs=2, epochs=10)
    assert lr_after(recipe, 20) == pytest.approx(0.1)  # warm-up done
    assert lr_after(recipe, 60) == pytest.approx(0.05)  # half-way through the cosine
    assert lr_after(recipe, 100) == pytest.approx(0.0, abs=1e-9)


def test_the_lr_scales_with_the_global_batch():
    recipe = Recipe(lr=0.1, lr_base_size=256, batch_size=64)
    assert global_lr(recipe, world_size=2) == pytest.approx(0.1 * 128 / 256)
    assert global_lr(Recipe(lr=0.1, batch_size=64), world_size=8) == 0.1  # no base: as given


def test_trainer_settings_clip_gradients_and_sync_batchnorm():
    settings = trainer_settings(Recipe(grad_clip=1.0, sync_bn=True))
    assert settings["gradient_clip_val"] == 1.0 and settings["sync_batchnorm"] is True
    assert trainer_settings(Recipe())["gradient_clip_val"] is None


def classifier(arch: str = "efficientnet", num_classes: int = 10, **knobs) -> ImageClassifier:
    return ImageClassifier(resolve_model(arch), Recipe(**knobs), num_classes)


def test_mixup_and_cutmix_make_soft_targets():
    model = classifier(mixup=1.0, cutmix=1.0, batch_size=8, label_smoothing=0.0)
    assert isinstance(model.train_loss, SoftTargetCrossEntropy)
    np.random.seed(0)  # timm's Mixup draws its mixing weights from numpy
    images, labels = torch.randn(8, 3, 32, 32), torch.arange(8)
    mixed, targets = model.mixup(images.clone(), labels)  # it mixes in place
    assert targets.shape == (8, 10) and torch.allclose(targets.sum(1), torch.ones(8))
    assert ((targets > 0).sum(1) == 2).all()  # every row mixes two labels: none is one-hot
    assert not torch.equal(mixed, images)
    with pytest.raises(InputError, match="even batch"):
        Recipe(mixup=0.2, batch_size=7)


def test_drop_path_acts_in_training_and_not_in_eval():
    torch.manual_seed(0)
    images = torch.randn(4, 3, 64, 64)

    def two_passes_differ(net: nn.Module) -> bool:
        with torch.no_grad():
            return not torch.allclose(net(images), net(images))

    with_drop_path = classifier(drop_path_rate=0.5, drop_rate=0.0).model
    without = classifier(drop_path_rate=0.0, drop_rate=0.0).model
    assert any(isinstance(module, DropPath) for module in with_drop_path.modules())
    assert two_passes_differ(with_drop_path.train())
    assert not two_passes_differ(without.train())  # the check itself can tell
    assert not two_passes_differ(with_drop_path.eval())


def test_dropout_follows_the_paper_unless_the_recipe_sets_it():
    assert classifier().model.drop_rate == 0.2  # B0's
    b7 = ImageClassifier(resolve_model("efficientnet_b7"), Recipe(), 10)
    assert b7.model.drop_rate == 0.5
    assert classifier(drop_rate=0.1).model.drop_rate == 0.1
    wide = ImageClassifier(resolve_model("efficientnet", width=1.4), Recipe(), 10)
    assert wide.model.drop_rate == 0.4  # B4's width: B4's dropout
    dropouts = [m.p for m in classifier("alexnet", drop_rate=0.3).model.modules()
                if isinstance(m, nn.Dropout)]  # fmt: skip
    assert dropouts == [0.3, 0.3]
    classifier("resnet18", drop_rate=0.3, drop_path_rate=0.2)  # not there: no error, no effect


def test_zero_init_zeroes_the_last_batchnorm_of_each_residual_block():
    def last_bn_weights(model: nn.Module) -> list[torch.Tensor]:
        return [block.bn2.weight for stage in (model.layer1, model.layer2) for block in stage]

    zeroed = classifier("resnet18", zero_init_last_bn=True).model
    assert all(torch.count_nonzero(w) == 0 for w in last_bn_weights(zeroed))
    plain = classifier("resnet18").model
    assert all(torch.count_nonzero(w) > 0 for w in last_bn_weights(plain))


def test_batchnorm_momentum_reaches_every_batchnorm():
    norms = [m for m in classifier(bn_momentum=0.01).model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]  # fmt: skip
    assert norms and {m.momentum for m in norms} == {0.01}


def test_auto_augment_changes_training_crops_only(imagenet_shards: Path):
    plain = ShardDataModule(imagenet_shards, 32)
    augmented = ShardDataModule(imagenet_shards, 32, auto_augment="rand-m9-mstd0.5")
    assert augmented.transform(is_training=False).policy is None  # eval stays plain
    image = Image.new("RGB", (96, 80), (120, 30, 200))
    image.paste((10, 220, 40), (20, 20, 60, 60))

    def crops(module: ShardDataModule) -> list[torch.Tensor]:
        random.seed(0)
        return [module.transform(is_training=True)(image.copy()) for _ in range(8)]

    same = [torch.equal(a, b) for a, b in zip(crops(plain), crops(augmented), strict=True)]
    assert not all(same)
    with pytest.raises(InputError, match="auto_augment 'rand-x9'"):
        ShardDataModule(imagenet_shards, 32, auto_augment="rand-x9")


def test_random_erasing_acts_on_training_batches_only(imagenet_shards: Path):
    module = ShardDataModule(imagenet_shards, 32, re_prob=0.99)
    module.trainer = pl.Trainer(logger=False, enable_progress_bar=False)
    batch = (torch.full((16, 3, 32, 32), 128, dtype=torch.uint8), torch.zeros(16))
    plain = module.normalize(batch[0].clone())
    module.trainer.validating = True
    assert torch.equal(module.on_after_batch_transfer(batch, 0)[0], plain)
    module.trainer.training = True
    erased = module.on_after_batch_transfer(batch, 0)[0]
    changed = (erased != plain).flatten(1).any(1)
    assert changed.sum() >= 12  # nearly every image has an erased box


def test_every_named_recipe_cites_its_source(capsys):
    assert {"efficientnet_paper", "timm_efficientnet", "torchvision_v1", "torchvision_v2",
            "alexnet_paper", "vgg_paper", "demo"} <= set(CATALOGUE)  # fmt: skip
    for name, entry in CATALOGUE.items():
        assert entry.source, name
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out
    assert all(f"{name}:" in listing for name in CATALOGUE)
    assert "Tan & Le 2019" in listing and "rand-m9-mstd0.5" in listing
    assert main(["recipes", "timm_efficientnet"]) == 0
    assert json.loads(capsys.readouterr().out) == RECIPES["timm_efficientnet"].to_dict()
    with pytest.raises(InputError, match="unknown recipe 'nope'"):
        named_recipe("nope")


def test_a_sweep_picks_a_named_recipe_and_overrides_it():
    _, recipe = resolve({}, RECIPES["demo"], {"recipe": "efficientnet_paper", "epochs": "3"})
    assert recipe == RECIPES["efficientnet_paper"].with_overrides({"epochs": 3})
    _, recipe = resolve({}, RECIPES["demo"], {"drop_rate": "none", "ema_decay": "0.99"})
    assert recipe.drop_rate is None and recipe.ema_decay == 0.99
    with pytest.raises(InputError, match="drop_path_rate 1.5"):
        resolve({}, RECIPES["demo"], {"drop_path_rate": "1.5"})


class LearningRates(pl.Callback):
    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.slow
def test_a_full_recipe_trains_evaluates_its_ema_and_steps_its_schedule(
    digits_shards: Path, tmp_path: Path
):
    """timm's EfficientNet recipe on the digits, through Lightning: every knob in one run."""
    recipe = RECIPES["timm_efficientnet"].with_overrides({
        "epochs": 2, "batch_size": 32, "lr": 0.01, "lr_base_size": 0, "warmup_epochs": 0.5,
        "decay_epochs": 0.5, "ema_decay": 0.9, "mixup": 0.2, "cutmix": 1.0,
        "loader_workers": 0, "channels_last": "on", "hflip": 0.0,
    })  # fmt: skip
    manifest = json.loads((digits_shards / "manifest.json").read_text())
    spec = resolve_model("efficientnet", 32)
    model, data = build_run(digits_shards, manifest, spec, recipe)
    rates = LearningRates()
    trainer = pl.Trainer(**trainer_settings(recipe), logger=False, enable_checkpointing=False,
                         callbacks=[rates], enable_progress_bar=False,
                         default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, datamodule=data)

    half = data.batches_per_epoch("train") / 2  # warm-up and decay period: half an epoch
    start = recipe.warmup_lr
    expected = [start + i * (0.01 - start) / half if i < half else
                0.01 * 0.97 ** ((i - half) // half) for i in range(len(rates.seen))]  # fmt: skip
    assert len(rates.seen) == 4 * half and rates.seen == pytest.approx(expected)
    ema, raw = model.ema.module.state_dict(), model.model.state_dict()
    assert any(not torch.equal(ema[k], raw[k]) for k in raw if raw[k].is_floating_point())
    conv = next(m for m in model.model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)

    scores = trainer.validate(model, datamodule=data, verbose=False)[0]
    assert (
        scores["val/acc1"] != scores["val/acc1_raw"] or scores["val/loss"] != scores["val/loss_raw"]
    )
    # val/acc1 is the EMA's: the same score as the EMA network evaluated alone
    accuracy = top_k_accuracy(10, 1)
    model.ema.module.eval()
    with torch.no_grad():
        for images, labels in data.val_dataloader():
            accuracy.update(model(data.normalize(images), model.ema.module), labels)
    assert scores["val/acc1"] == pytest.approx(float(accuracy.compute()), abs=1e-6)


@pytest.mark.slow
def test_ladder_train_takes_a_named_recipe_and_flags_override_it(
    digits_shards: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    argv = ["train", "--arch", "lenet5", "--data", str(digits_shards), "--out", str(tmp_path),
            "--recipe", "torchvision_v2", "--epochs", "1", "--batch-size", "32", "--lr", "0.02",
            "--loader-workers", "0", "--no-compile"]  # fmt: skip
    assert main(argv) == 0
    import mlflow

    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("train").experiment_id])
    params = run.data.params
    assert params["optimizer"] == "momentum" and params["auto_augment"] == "ta_wide"  # the recipe
    assert params["mixup"] == "0.2" and params["ema_decay"] == "0.99997"
    assert params["lr"] == "0.02" and params["epochs"] == "1"  # the flags
    assert {"val/acc1", "val/acc1_raw", "val/loss_raw"} <= set(run.data.metrics)


@pytest.mark.slow
def test_compile_trains_and_keeps_the_checkpoint_keys(digits_shards: Path, tmp_path: Path):
    recipe = RECIPES["demo"].with_overrides({"epochs": 1, "compile": True, "loader_workers": 0})
    manifest = json.loads((digits_shards / "manifest.json").read_text())
    model, data = build_run(digits_shards, manifest, resolve_model("lenet5"), recipe)
    plain = set(ImageClassifier(resolve_model("lenet5"), recipe, 10, 1).state_dict())
    trainer = pl.Trainer(**trainer_settings(recipe), logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model, datamodule=data)
    assert model.model._compiled_call_impl is not None  # it ran compiled
    assert set(model.state_dict()) == plain  # a checkpoint loads with compile off
    assert trainer.callback_metrics["val/acc1"] > 0.3


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"lr": "0.1"}, "lr '0.1': expected a number"),
        ({"epochs": 2.0}, "epochs 2.0: expected an integer"),
        ({"epochs": True}, "epochs True: expected an integer"),
        ({"lr": True}, "lr True: expected a number"),
        ({"compile": 1}, "compile 1: expected true or false"),
        ({"auto_augment": None}, "auto_augment None: expected text"),
        ({"opt_eps": 0.0}, "opt_eps 0.0: expected > 0"),
        ({"decay_epochs": -2.4}, "decay_epochs -2.4: expected > 0"),
        ({"warmup_epochs": float("inf")}, "warmup_epochs inf: expected a finite number"),
        ({"ema_decay": 1.0}, "ema_decay 1.0: expected in [0, 1)"),
        ({"drop_rate": -0.1}, "drop_rate -0.1: expected in [0, 1)"),
        ({"pad_crop": 100000}, "pad_crop 100000: expected in [0, 64]"),
        ({"pad_crop": -1}, "pad_crop -1: expected in [0, 64]"),
        ({"crop_pct": 0.0}, "crop_pct 0.0: expected in (0, 1]"),
    ],
)
def test_a_recipe_refuses_values_of_the_wrong_type_or_range(values, expected):
    """Recipes come from code and from sweep configs too, not only through parsed flags."""
    with pytest.raises(InputError) as error:
        Recipe(**values)
    assert str(error.value) == expected


def test_every_named_recipe_and_optional_none_are_valid():
    assert Recipe(drop_rate=None).drop_rate is None
    assert all(Recipe.from_dict(named.recipe.to_dict()) for named in CATALOGUE.values())
