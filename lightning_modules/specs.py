"""The two typed specs of a run: which network (`ModelSpec`) and how to train it (`Recipe`).

They are the project's one vocabulary. `ladder train` builds its flags from `Recipe`'s
fields, every search space grids over `ModelSpec`s under one `Recipe`, a trial's param
space is `{"model": ModelSpec fields, "recipe": Recipe fields, ...}`, and MLflow gets
the same names as params. A setting has one name and one default, here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from lightning_modules.architectures import build_model, list_models, model_info
from lightning_modules.errors import InputError
from lightning_modules.measure import profile_model

SCALING_KEYS = ("width", "depth")  # what the builders take
COEFFICIENTS = ("alpha", "beta", "gamma", "phi")  # where a compound-scaling space put them
OPTIMIZERS = ("sgd", "rmsprop", "adamw")


@dataclass(frozen=True)
class ModelSpec:
    """One network to train: the architecture, its input side and its multipliers.

    `width`/`depth` are None for architectures that do not scale. A compound-scaling
    space also records the coefficients the model came from (alpha, beta, gamma at phi)
    and its counted MACs relative to the base model, so that a trial names its point.
    Build specs with `resolve_model`, which checks them.
    """

    arch: str
    resolution: int
    width: float | None = None
    depth: float | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    phi: float | None = None
    macs_ratio: float | None = None

    @property
    def scaling(self) -> dict[str, float]:
        """The multipliers `build_model` takes."""
        return {key: getattr(self, key) for key in SCALING_KEYS if getattr(self, key) is not None}

    @property
    def name(self) -> str:
        """A readable trial name: `efficientnet_a1.2_b1.1_g1.15_r258`, `resnet50_r224`."""
        shown = scaling_of(self.to_dict())
        parts = [f"{key[0]}{value:g}" for key, value in shown.items() if key != "phi"]
        if shown.get("phi", 1) != 1:
            parts.append(f"phi{shown['phi']:g}")
        return "_".join([self.arch, *parts, f"r{self.resolution}"])

    def build(self, num_classes: int = 1000, in_chans: int = 3) -> nn.Module:
        return build_model(self.arch, num_classes, in_chans, **self.scaling)

    def size(self, num_classes: int = 1000, in_chans: int = 3) -> dict[str, int]:
        """`model/params`, `model/macs` and `model/activations` (values per image, the
        lecture's memory column) at the spec's resolution, counted on the meta device
        (shapes only: no memory, nothing computed, instant even for B7)."""
        return dict(_size(self, num_classes, in_chans))

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set: a param-space entry, and the model's MLflow params."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelSpec:
        return cls(**values)


@functools.cache
def _size(spec: ModelSpec, num_classes: int, in_chans: int) -> dict[str, int]:
    with torch.device("meta"):
        net = spec.build(num_classes, in_chans)
    profile = profile_model(net, spec.resolution, in_chans)
    return {
        "model/params": profile.params,
        "model/macs": profile.macs,
        "model/activations": profile.activations,
    }


def scaling_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """How a model is scaled, for people: the compound coefficients where a space set
    them, else the width and depth multipliers. Values are passed through as they come
    (numbers from a spec, strings from MLflow params)."""
    for keys in (COEFFICIENTS, SCALING_KEYS):
        present = {key: values[key] for key in keys if values.get(key) is not None}
        if present:
            return present
    return {}


def resolve_model(arch: str, resolution: int | None = None, **scaling: float) -> ModelSpec:
    """The checked `ModelSpec` of `arch`: the native resolution unless one is given, every
    multiplier the architecture accepts (1.0 unless given), and no other."""
    if arch not in list_models():
        raise InputError(f"unknown architecture {arch!r}; valid: {', '.join(list_models())}")
    info = model_info(arch)
    resolution = info.native_resolution if resolution is None else resolution
    if resolution < info.min_resolution:
        raise InputError(
            f"resolution {resolution} is too small for {arch}: its minimum is {info.min_resolution}"
        )
    given = {key: value for key, value in scaling.items() if value is not None}
    unknown = sorted(given.keys() - set(info.scaling_keys))
    if unknown:
        accepted = ", ".join(info.scaling_keys) or "none"
        raise InputError(f"{', '.join(unknown)} does not apply to {arch}; it accepts {accepted}")
    for key, value in given.items():
        if not value > 0:
            raise InputError(f"{arch}: {key} must be positive, got {value}")
    multipliers = {key: float(given.get(key, 1.0)) for key in info.scaling_keys}
    return ModelSpec(arch, int(resolution), **multipliers)


def _knob(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: every training default of the project, in one place.

    `ladder train`'s flags, each space's recipe and `ImageClassifier` take their
    defaults from here; `--set KEY=VALUE` (sweeps) and the flags override them.
    """

    epochs: int = _knob(10, "epochs to train")
    batch_size: int = _knob(64, "images per step and device")
    optimizer: str = _knob("sgd", "optimizer", choices=OPTIMIZERS)
    lr: float = _knob(0.05, "peak learning rate, after warm-up")
    momentum: float = _knob(0.9, "SGD (Nesterov) momentum")
    weight_decay: float = _knob(5e-5, "on weights; never on biases or norms")
    warmup_epochs: float = _knob(1.0, "linear warm-up, then cosine decay")
    label_smoothing: float = _knob(0.1, "cross-entropy label smoothing")
    min_crop: float = _knob(0.08, "RandomResizedCrop's smallest area fraction")
    hflip: float = _knob(0.5, "horizontal flip probability")
    loader_workers: int = _knob(2, "data loader processes per device")
    channels_last: bool = _knob(False, "channels-last memory format (faster convs on GPUs)")
    seed: int = _knob(0, "seeds weights, data order and augmentation")

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise InputError(
                f"optimizer {self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}"
            )
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                raise InputError(f"{key} {getattr(self, key)}: expected >= 1")
        if self.loader_workers < 0:
            raise InputError(f"loader_workers {self.loader_workers}: expected >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Recipe:
        return cls(**values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Recipe:
        """This recipe with `overrides` applied; strings are parsed as the field's type."""
        defaults = self.to_dict()
        return replace(self, **{key: parse_setting(key, value, defaults[key])
                                for key, value in overrides.items()})  # fmt: skip


RECIPE_KEYS = tuple(knob.name for knob in fields(Recipe))

# Named recipes. `demo` is sized for the digits on a laptop CPU: from scratch in 4 epochs
# AdamW beats SGD by far; batch 32 gives BatchNorm's running stats more steps to settle;
# digits survive mild crops but not mirroring.
RECIPES: dict[str, Recipe] = {
    "default": Recipe(),
    "demo": Recipe(epochs=4, batch_size=32, optimizer="adamw", lr=0.002, warmup_epochs=0.5,
                   min_crop=0.5, hflip=0.0, loader_workers=1),
}  # fmt: skip


def parse_setting(key: str, value: Any, like: Any) -> Any:
    """`value` as the type of the default `like` it replaces; strings are parsed (tuples
    as comma lists), other values pass through. InputError names the key."""
    if not isinstance(value, str):
        return value
    try:
        return _parse(value, like)
    except ValueError as error:
        raise InputError(f"setting {key}: {error}") from None


def _parse(text: str, like: Any) -> Any:
    if isinstance(like, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    if isinstance(like, tuple):
        item = like[0] if like else ""
        return tuple(_parse(part.strip(), item) for part in text.split(",") if part.strip())
    if isinstance(like, (int, float)):
        try:
            return type(like)(text)
        except ValueError:
            kind = "an integer" if isinstance(like, int) else "a number"
            raise ValueError(f"expected {kind}, got {text!r}") from None
    return text
