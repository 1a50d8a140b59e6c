"""Named recipes: published ImageNet training settings as `Recipe`s, each citing its source.

A sweep or `ladder train --recipe NAME` selects one; `--set KEY=VALUE` and the train
flags override single fields. Learning rates are given per the batch their source used
(`lr_base_size`), so a run on other hardware scales them by its own global batch, as the
sources themselves advise. What a recipe cannot express is said in its `differs` line
(`ladder recipes` prints it): each source is followed as far as one resolution, one
loader and Lightning allow, not further.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightning_modules.errors import InputError
from lightning_modules.settings_files import is_settings_file, read_settings
from lightning_modules.specs import Recipe


@dataclass(frozen=True)
class NamedRecipe:
    recipe: Recipe
    source: str
    differs: str = ""


CATALOGUE: dict[str, NamedRecipe] = {
    "default": NamedRecipe(
        Recipe(),
        "cnn-ladder's own: Nesterov SGD, warm-up then cosine, label smoothing 0.1",
    ),
    "demo": NamedRecipe(
        # From scratch in 4 epochs AdamW beats SGD by far on the digits; batch 32 gives
        # BatchNorm's running stats more steps to settle; digits survive mild crops but
        # not mirroring. No dropout: 4 epochs do not overfit.
        Recipe(
            epochs=4,
            batch_size=32,
            optimizer="adamw",
            lr=0.002,
            warmup_epochs=0.5,
            min_crop=0.5,
            hflip=0.0,
            drop_rate=0.0,
            loader_workers=1,
        ),
        "cnn-ladder's digits demo, sized for minutes on a laptop CPU",
    ),  # fmt: skip
    "fashion_mnist": NamedRecipe(
        # Small grayscale images: the whole image at evaluation (timm's 0.875 centre crop
        # cut the garments' borders: LeNet-5 lost 9 points to it), no RandomResizedCrop
        # (its zoom and aspect jitter cost LeNet-5 points a bare loop keeps), flips only
        # (garments are symmetric); pad_crop=2 adds the table's shifts for larger nets.
        Recipe(
            epochs=15,
            batch_size=128,
            optimizer="adamw",
            lr=0.002,
            weight_decay=0.05,
            warmup_epochs=1,
            label_smoothing=0.1,
            min_crop=1.0,
            crop_pct=1.0,
            hflip=0.5,
        ),
        "cnn-ladder's Fashion-MNIST calibration: horizontal flips (the benchmark table's "
        "'Random Horizontal Flips' row, 0.939) with AdamW (Loshchilov & Hutter 2019) and a "
        "cosine schedule, each image whole",
        "one recipe for the whole ladder, 15 epochs: the table's rows trained each network "
        "its own way and longer (WRN-28-10: 200 epochs)",
    ),  # fmt: skip
    "efficientnet_paper": NamedRecipe(
        Recipe(
            epochs=350,
            batch_size=128,
            optimizer="rmsproptf",
            lr=0.256,
            lr_base_size=4096,
            momentum=0.9,
            opt_eps=1e-3,
            weight_decay=1e-5,
            schedule="step",
            warmup_epochs=5,
            decay_epochs=2.4,
            decay_rate=0.97,
            label_smoothing=0.1,
            auto_augment="v0",
            drop_rate=None,
            drop_path_rate=0.2,
            bn_momentum=0.01,
            ema_decay=0.9999,
        ),
        "Tan & Le 2019, EfficientNet, sec. 5.2 (RMSProp decay 0.9 momentum 0.9, BN momentum "
        "0.99, weight decay 1e-5, lr 0.256 per 4096 images x0.97 every 2.4 epochs, "
        "AutoAugment, survival 0.8, dropout 0.2 (B0) to 0.5 (B7), SiLU); epochs, warm-up, "
        "EMA and label smoothing from its reference code (tensorflow/tpu, efficientnet)",
        "BatchNorm epsilon stays PyTorch's 1e-5 (TF 1e-3); AutoAugment is timm's port of "
        "the reference code's 'v0' policy",
    ),  # fmt: skip
    "timm_efficientnet": NamedRecipe(
        Recipe(
            epochs=450,
            batch_size=128,
            optimizer="rmsproptf",
            lr=0.016,
            lr_base_size=256,
            momentum=0.9,
            opt_eps=1e-3,
            weight_decay=1e-5,
            schedule="step",
            warmup_epochs=5,
            warmup_lr=1e-6,
            decay_epochs=2.4,
            decay_rate=0.97,
            label_smoothing=0.1,
            auto_augment="rand-m9-mstd0.5",
            re_prob=0.2,
            drop_rate=0.3,
            drop_path_rate=0.2,
            ema_decay=0.9999,
        ),
        "timm docs, training_hparam_examples: EfficientNet-B2 with RandAugment, 80.4 top-1 "
        "(2 GPUs x 128, lr .016, rmsproptf eps .001, step 2.4/.97, rand-m9-mstd0.5, "
        "reprob 0.2 pixel, drop 0.3, drop-path 0.2, EMA 0.9999); warm-up and label "
        "smoothing are train.py's defaults",
        "drop_rate 0.3 is B2's; use drop_rate=none for the paper's per-model dropout",
    ),  # fmt: skip
    "torchvision_v1": NamedRecipe(
        Recipe(
            epochs=90,
            batch_size=32,
            optimizer="momentum",
            lr=0.1,
            lr_base_size=256,
            momentum=0.9,
            weight_decay=1e-4,
            schedule="step",
            warmup_epochs=0,
            decay_epochs=30,
            decay_rate=0.1,
            label_smoothing=0.0,
        ),
        "torchvision references/classification, ResNet (8 GPUs x 32, SGD lr 0.1, momentum "
        "0.9, weight decay 1e-4, 90 epochs, x0.1 every 30)",
        "torchvision decays BN and bias parameters too; here they never decay",
    ),  # fmt: skip
    "torchvision_v2": NamedRecipe(
        Recipe(
            epochs=600,
            batch_size=128,
            optimizer="momentum",
            lr=0.5,
            lr_base_size=1024,
            momentum=0.9,
            weight_decay=2e-5,
            schedule="cosine",
            warmup_epochs=5,
            warmup_lr=0.005,
            label_smoothing=0.1,
            auto_augment="ta_wide",
            re_prob=0.1,
            mixup=0.2,
            cutmix=1.0,
            ema_decay=0.99997,
        ),
        "torchvision's new recipe (Vryniotis 2021, 'How to train state-of-the-art models "
        "using TorchVision's latest primitives'; ResNet50 80.9 top-1): 8 GPUs x 128, lr 0.5, "
        "cosine, 5 warm-up epochs, TrivialAugment, random erasing 0.1, label smoothing "
        "0.1, mixup 0.2, cutmix 1.0, weight decay 2e-5 (none on norms), EMA",
        "no repeated-augmentation sampler; one resolution for train and eval (the recipe "
        "trains at 176 and evaluates at 224 from 232); torchvision's EMA (0.99998 every 32 "
        "steps) is per step here",
    ),  # fmt: skip
    "alexnet_paper": NamedRecipe(
        Recipe(
            epochs=90,
            batch_size=128,
            optimizer="momentum",
            lr=0.01,
            lr_base_size=128,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="step",
            warmup_epochs=0,
            decay_epochs=30,
            decay_rate=0.1,
            label_smoothing=0.0,
            min_crop=0.77,
            drop_rate=0.5,
        ),
        "Krizhevsky, Sutskever & Hinton 2012, sec. 5 (batch 128, momentum 0.9, weight decay "
        "5e-4, lr 0.01 divided by 10 three times over ~90 epochs, dropout 0.5, 224 crops "
        "of 256 images and flips)",
        "the lr drops every 30 epochs, not when the validation error stalls; crops are "
        "random-resized (area >= 0.77) and there is no PCA colour noise",
    ),  # fmt: skip
    "vgg_paper": NamedRecipe(
        Recipe(
            epochs=74,
            batch_size=256,
            optimizer="momentum",
            lr=0.01,
            lr_base_size=256,
            momentum=0.9,
            weight_decay=5e-4,
            schedule="step",
            warmup_epochs=0,
            decay_epochs=20,
            decay_rate=0.1,
            label_smoothing=0.0,
            min_crop=0.19,
            drop_rate=0.5,
        ),
        "Simonyan & Zisserman 2015, sec. 3.1 (batch 256, momentum 0.9, weight decay 5e-4, "
        "dropout 0.5, lr 0.01 divided by 10 three times, 370K iterations = 74 epochs, "
        "224 crops of images rescaled to 256..512)",
        "the lr drops every 20 epochs, not when the validation accuracy stalls; the "
        "scale jitter is a random-resized crop of area 0.19..1",
    ),  # fmt: skip
}

RECIPES: dict[str, Recipe] = {name: entry.recipe for name, entry in CATALOGUE.items()}


def named_recipe(name: str) -> Recipe:
    """The recipe called `name`, or the one a YAML or JSON file holds (`name` ending in
    .yaml, .yml or .json, or a path); InputError listing the names otherwise."""
    if is_settings_file(name):
        return recipe_file(name)
    if name not in RECIPES:
        raise InputError(
            f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}, or a .yaml/.json file"
        )
    return RECIPES[name]


def recipe_file(path: str) -> Recipe:
    """A recipe file: `Recipe` fields over the `default` recipe, or over the named recipe
    its `from` key gives. What `ladder recipes NAME` prints is such a file."""
    values = read_settings(path)
    base = values.pop("from", "default")
    try:
        if not isinstance(base, str) or is_settings_file(base):
            raise InputError(f"from {base!r}: expected the name of a recipe")
        return named_recipe(base).with_overrides(values)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
