"""A trained network as two files anyone can load: timm's `save_for_hf` layout.

`model.safetensors` holds the weights validation scored (the EMA's where the recipe kept
one); `config.json` says how to rebuild the network and feed it: timm's `architecture`,
`num_classes`, `model_args` and `pretrained_cfg` (input size, crop, mean/std), the class
names as `label_names`, and a `ladder` section with the model spec, which weights these
are and where they came from.

Who can rebuild it. EfficientNets are built by timm's own builder
(`architectures/efficientnet.py`): when the trained network has exactly the blocks and
channels of one of timm's variants (B0..B7, or a free width/depth that lands on one, as
width 1.1 x depth 1.2 is B2), the export names that variant and plain timm loads it
(`builder: timm`). Every other network needs cnn-ladder's builder (`builder: cnn-ladder`):
LeNet-5 (our own), AlexNet, VGG, ResNet and MobileNetV2 (torchvision's, with the first
convolution adapted to the channels), any `cifar` stem (its strides are not in the
weights), and EfficientNets at a width/depth no variant has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import timm
from safetensors.torch import load_file, save_file
from torch import nn

from lightning_modules.architectures import list_models, model_info
from lightning_modules.builder_keys import TIMM_PREFIX
from lightning_modules.classifier import ImageClassifier
from lightning_modules.data import channel_stats
from lightning_modules.errors import InputError
from lightning_modules.export_files import CONFIG_FILE, WEIGHTS_FILE, read_config
from lightning_modules.measure import on_meta_device
from lightning_modules.specs import ModelSpec, Recipe

TIMM_FAMILIES = ("efficientnet",)  # families built by timm's own builder
# The shard loader's eval transform (`DecodeCrop` without augmentation) in timm's words.
EVAL_TRANSFORM = {"interpolation": "bilinear", "crop_mode": "center"}


def trained_classifier(checkpoint: dict[str, Any]) -> ImageClassifier:
    """A Lightning checkpoint's classifier, built as its run built it, in eval mode. Its
    `evaluated()[""]` is the network whose top-1 the run logged as `val/acc1`: the EMA
    where the recipe kept one, else the trained weights."""
    hparams = checkpoint["hyper_parameters"]
    spec, recipe = ModelSpec.from_dict(hparams["model"]), Recipe.from_dict(hparams["recipe"])
    classifier = ImageClassifier(spec, recipe, hparams["num_classes"], hparams["in_chans"])
    classifier.load_state_dict(checkpoint["state_dict"])
    return classifier.eval()


def timm_variant(spec: ModelSpec, num_classes: int, in_chans: int) -> str | None:
    """The timm model that is this network, or None (see the module doc).

    Two networks of one timm generator with the same state-dict keys and shapes have the
    same blocks, kernels and channels; both are built on the meta device (shapes only).
    """
    if spec.arch.startswith(TIMM_PREFIX):  # built by timm in the first place
        return spec.arch.removeprefix(TIMM_PREFIX)
    family = model_info(spec.arch).family
    if family not in TIMM_FAMILIES or spec.stem not in (None, "imagenet"):
        return None
    with on_meta_device():
        shapes = _shapes(spec.build(num_classes, in_chans))
        for name in list_models():
            if model_info(name).family == family and timm.is_model(name):
                variant = timm.create_model(name, num_classes=num_classes, in_chans=in_chans)
                if _shapes(variant) == shapes:
                    return name
    return None


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def data_config(resolution: int, in_chans: int, crop_pct: float) -> dict[str, Any]:
    """timm's data config of the shard loader's eval transform at these settings."""
    mean, std = channel_stats(in_chans)
    return {"input_size": (in_chans, resolution, resolution), "crop_pct": crop_pct,
            "mean": mean, "std": std, **EVAL_TRANSFORM}  # fmt: skip


def write_export(
    classifier: ImageClassifier, out: Path, labels: list[str] | None, source: dict[str, Any]
) -> dict[str, Any]:
    """`classifier`'s scored network as `out`/config.json + model.safetensors; the config.

    timm's variants go through timm's own `save_for_hf`; the rest get the same layout.
    `source` (sweep, trial, epoch, top-1, ...) is recorded as `ladder.source`.
    """
    spec, recipe = ModelSpec.from_dict(classifier.hparams["model"]), classifier.recipe
    num_classes, in_chans = classifier.hparams["num_classes"], classifier.hparams["in_chans"]
    network = classifier.evaluated()[""]
    variant = timm_variant(spec, num_classes, in_chans)
    ladder = {"builder": "timm" if variant else "cnn-ladder", "model": spec.to_dict(),
              "weights": "ema" if classifier.ema is not None else "trained",
              "ema_decay": recipe.ema_decay, "source": source}  # fmt: skip
    model_config = {"label_names": labels, "ladder": ladder} if labels else {"ladder": ladder}
    data = data_config(spec.resolution, in_chans, recipe.crop_pct)
    out.mkdir(parents=True, exist_ok=True)
    if variant:
        model = timm.create_model(variant, num_classes=num_classes, in_chans=in_chans)
        model.load_state_dict(network.state_dict())
        # tag and license would otherwise be those of timm's ImageNet weights for the variant
        cfg = {"tag": source.get("trial"), "license": None}
        model_config["pretrained_cfg"] = cfg
        timm.models.save_for_hf(model, out, model_config, safe_serialization=True, data_config=data)
    else:
        save_file({k: v.contiguous() for k, v in network.state_dict().items()}, out / WEIGHTS_FILE)
        config = {
            "architecture": spec.arch,
            "num_classes": num_classes,
            "model_args": {"num_classes": num_classes, "in_chans": in_chans},
            "pretrained_cfg": {**data, "num_classes": num_classes},
            **model_config,
        }
        (out / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return read_config(out)


def load_exported(folder: Path) -> tuple[nn.Module, dict[str, Any]]:
    """The exported network in eval mode, and its config: through plain timm when the
    config says timm builds it (a config without a `ladder` section, timm's own, too),
    else through cnn-ladder's `ModelSpec`. Only the exported files are read."""
    config = read_config(folder)
    weights = folder / WEIGHTS_FILE
    ladder = config.get("ladder", {"builder": "timm"})
    try:
        if ladder["builder"] == "timm":
            model = timm.create_model(
                config["architecture"],
                pretrained=True,
                pretrained_cfg_overlay={**config["pretrained_cfg"], "file": str(weights)},
                **config.get("model_args", {}),
            )
        else:
            in_chans = config["pretrained_cfg"]["input_size"][0]
            model = ModelSpec.from_dict(ladder["model"]).build(config["num_classes"], in_chans)
            model.load_state_dict(load_file(weights))
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise InputError(f"{folder}: the weights do not fit config.json ({first})") from None
    return model.eval(), config


def eval_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The shard loader's eval settings (resolution, in_chans, crop_pct) from a config's
    `pretrained_cfg`; InputError where it asks for a transform the loader does not make."""
    cfg = config["pretrained_cfg"]
    in_chans, height, width = cfg["input_size"]
    mean, std = channel_stats(in_chans)
    expected = {**EVAL_TRANSFORM, "mean": list(mean), "std": list(std)}
    differs = [key for key, value in expected.items() if cfg.get(key) != value]
    if height != width or differs:
        raise InputError(
            f"config.json asks for input {height}x{width} with {', '.join(differs) or 'size'} "
            f"unlike the shard loader's eval transform (square, {expected})"
        )
    return {"resolution": height, "in_chans": in_chans, "crop_pct": cfg.get("crop_pct", 1.0)}
