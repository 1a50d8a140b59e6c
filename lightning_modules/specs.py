"""The two typed specs of a run: which network (`ModelSpec`) and how to train it (`Recipe`).

They are the project's one vocabulary. `ladder train` builds its flags from `Recipe`'s
fields, every search space grids over `ModelSpec`s under one `Recipe`, a trial's param
space is `{"model": ModelSpec fields, "recipe": Recipe fields, ...}`, and MLflow gets
the same names as params. A setting has one name and one default, here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from lightning_modules.builder_keys import OPTIONS, SCALING_KEYS, STEMS
from lightning_modules.errors import InputError
from lightning_modules.metric_names import MODEL_ACTIVATIONS, MODEL_MACS, MODEL_PARAMS

if TYPE_CHECKING:
    from torch import nn

# The registry (torch, timm) is imported where a spec is built or checked, not here: the
# specs are the vocabulary of every command's flags, and `ladder --help` stays instant.
COEFFICIENTS = ("alpha", "beta", "gamma", "phi")  # where a compound-scaling space put them
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "rmsproptf", "adamw")
SCHEDULES = ("cosine", "step")
SWITCHES = ("auto", "on", "off")
# The largest input side a run accepts: 3.4x EfficientNet-B7's 600 px, the ladder's
# largest native side. Above it one RGB image holds 12+ MB of uint8 in a loader worker,
# and one activation map of a stem with 32 channels 0.5+ GB in float32 per image: such
# a run is a typo, and it used to die minutes later in a worker, out of memory.
MAX_RESOLUTION = 2048


@dataclass(frozen=True)
class ModelSpec:
    """One network to train: the architecture, its input side and its multipliers.

    `width`/`depth` are None for architectures that do not scale. A compound-scaling
    space also records the coefficients the model came from (alpha, beta, gamma at phi)
    and its counted MACs relative to the base model, so that a trial names its point.
    Build specs with `resolve_model`, which checks them.
    """

    arch: str = field(metadata={"help": "architecture: a name of the zoo (a wrong one lists "
                                "them), or timm:NAME for any of timm's models"})  # fmt: skip
    resolution: int = field(metadata={"help": "input side in pixels (default: the model's own)"})
    width: float | None = field(
        default=None, metadata={"help": "width multiplier (scalable archs)"}
    )
    depth: float | None = field(
        default=None, metadata={"help": "depth multiplier (scalable archs)"}
    )
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None
    phi: float | None = None
    macs_ratio: float | None = None
    stem: str | None = field(
        default=None,
        metadata={  # architectures/small_stem.py
            "help": "cifar: the entrance for 28-32 px inputs (default imagenet)",
            "choices": STEMS,
        },
    )

    @property
    def scaling(self) -> dict[str, float]:
        """The multipliers `build_model` takes."""
        return {key: getattr(self, key) for key in SCALING_KEYS if getattr(self, key) is not None}

    @property
    def name(self) -> str:
        """A readable trial name, fit for a folder: `efficientnet_a1.2_b1.1_g1.15_r258`,
        `resnet50_r224`, `resnet18_cifar_r32`, `timm-convnext_tiny_r224`."""
        shown = scaling_of(self.to_dict())
        parts = [f"{key[0]}{value:g}" for key, value in shown.items() if key != "phi"]
        if shown.get("phi", 1) != 1:
            parts.append(f"phi{shown['phi']:g}")
        if self.stem not in (None, "imagenet"):
            parts.append(self.stem)
        return "_".join([self.arch.replace(":", "-"), *parts, f"r{self.resolution}"])

    def build(
        self, num_classes: int = 1000, in_chans: int = 3, options: Mapping[str, Any] | None = None
    ) -> nn.Module:
        """The network; `options` are a recipe's regularisers (`Recipe.model_options`)."""
        from lightning_modules.architectures import build_model

        stem = self.stem or "imagenet"
        return build_model(self.arch, num_classes, in_chans, options, stem, **self.scaling)

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

    from lightning_modules.measure import on_meta_device, profile_model

    with on_meta_device():
        net = spec.build(num_classes, in_chans)
    profile = profile_model(net, spec.resolution, in_chans)
    return {
        MODEL_PARAMS: profile.params,
        MODEL_MACS: profile.macs,
        MODEL_ACTIVATIONS: profile.activations,
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


def resolve_model(
    arch: str, resolution: int | None = None, stem: str | None = None, **scaling: float
) -> ModelSpec:
    """The checked `ModelSpec` of `arch`: the native resolution unless one is given, every
    multiplier the architecture accepts (1.0 unless given), and no other; `stem` "cifar"
    for small inputs where the architecture has one (None and "imagenet": its own)."""
    from lightning_modules.architectures import check_stem, min_resolution, model_info

    if not isinstance(arch, str):
        raise InputError(f"arch {arch!r}: expected an architecture's name")
    info = model_info(arch)  # InputError naming the valid ones
    stem = None if stem in (None, "imagenet") else stem
    check_stem(info, stem or "imagenet")
    resolution = info.native_resolution if resolution is None else resolution
    if isinstance(resolution, bool) or not isinstance(resolution, int):
        raise InputError(f"resolution {resolution!r}: expected an integer number of pixels")
    if resolution > MAX_RESOLUTION:
        raise InputError(f"resolution {resolution} is too large: at most {MAX_RESOLUTION} pixels")
    smallest = min_resolution(info, stem or "imagenet")
    if resolution < smallest:
        with_stem = f" with the {stem} stem" if stem else ""
        raise InputError(
            f"resolution {resolution} is too small for {arch}{with_stem}: its minimum is {smallest}"
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
    return ModelSpec(arch, int(resolution), **multipliers, stem=stem)


def _knob(default: Any, help: str, **extra: Any) -> Any:
    """A `Recipe` field: its default, its help line, and `valid` (a key of `RANGES`) for
    numbers, or `choices` for strings."""
    return field(default=default, metadata={"help": help, **extra})


RANGES: dict[str, Callable[[float], bool]] = {
    ">= 1": lambda value: value >= 1,
    "> 0": lambda value: value > 0,
    ">= 0": lambda value: value >= 0,
    "in [0, 1)": lambda value: 0 <= value < 1,
    "in (0, 1]": lambda value: 0 < value <= 1,
    "in [0, 1]": lambda value: 0 <= value <= 1,
    "in [0, 2**32)": lambda value: 0 <= value < 2**32,  # what torch's and numpy's seeds take
    "in [0, 64]": lambda value: 0 <= value <= 64,  # pad_crop: CIFAR pads 4; more is no shift
}
KINDS = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def check_setting(key: str, value: Any, declared: str, metadata: Mapping[str, Any]) -> None:
    """InputError unless `value` is of the field's `declared` type ("float | None": a
    number or None), finite, and in its `valid` range. bool is no number here, so that a
    switch given where a number belongs (or the reverse) is refused, not read as 0 or 1."""
    optional = declared.endswith(" | None")
    if value is None and optional:
        return
    kinds = KINDS[declared.removesuffix(" | None")]
    if isinstance(value, bool) != (kinds == (bool,)) or not isinstance(value, kinds):
        kind = {"int": "an integer", "float": "a number", "bool": "true or false"}
        raise InputError(f"{key} {value!r}: expected {kind.get(declared, 'text')}")
    valid = metadata.get("valid")
    if valid and not math.isfinite(value):
        raise InputError(f"{key} {value!r}: expected a finite number")
    if valid and not RANGES[valid](value):
        raise InputError(f"{key} {value!r}: expected {valid}")


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: every training setting of the project, in one place.

    `ladder train`'s flags, each space's recipe and `ImageClassifier` take their
    defaults from here; `--recipe NAME` picks one of `lightning_modules.recipes`, and
    `--set KEY=VALUE` (sweeps) and the flags override single fields. Settings that only
    some architectures have (dropout, drop path, zero-init) act where the model has them.
    """

    epochs: int = _knob(10, "epochs to train", valid=">= 1")
    batch_size: int = _knob(64, "images per step and device", valid=">= 1")
    optimizer: str = _knob("sgd", "timm optimizer (sgd is Nesterov's)", choices=OPTIMIZERS)
    lr: float = _knob(0.05, "peak learning rate, after warm-up (see lr_base_size)", valid="> 0")
    lr_base_size: int = _knob(0, "if > 0, lr is per this many images: lr x global batch / it",
                             valid=">= 0")  # fmt: skip
    momentum: float = _knob(0.9, "SGD / RMSProp momentum", valid="in [0, 1)")
    opt_eps: float = _knob(1e-8, "RMSProp / Adam epsilon (TF's EfficientNet: 1e-3)", valid="> 0")
    weight_decay: float = _knob(5e-5, "on weights; never on biases or norms", valid=">= 0")
    schedule: str = _knob("cosine", "lr decay after warm-up", choices=SCHEDULES)
    warmup_epochs: float = _knob(1.0, "linear warm-up from warmup_lr to lr", valid=">= 0")
    warmup_lr: float = _knob(0.0, "lr at the start of the warm-up", valid=">= 0")
    decay_epochs: float = _knob(2.4, "step schedule: epochs between decays", valid="> 0")
    decay_rate: float = _knob(0.97, "step schedule: lr factor per decay", valid="in (0, 1]")
    grad_clip: float = _knob(0.0, "clip the gradients' global norm to this (0: off)", valid=">= 0")
    label_smoothing: float = _knob(0.1, "cross-entropy label smoothing", valid="in [0, 1)")
    min_crop: float = _knob(0.08, "RandomResizedCrop's smallest area fraction", valid="in (0, 1]")
    pad_crop: int = _knob(0, "if > 0, train crops are the whole image padded by this many "
                          "pixels and cropped back at random (CIFAR's), not RandomResizedCrop",
                          valid="in [0, 64]")  # fmt: skip
    crop_pct: float = _knob(0.875, "eval centre crop fraction (timm's; 1.0: the whole image)",
                            valid="in (0, 1]")  # fmt: skip
    hflip: float = _knob(0.5, "horizontal flip probability", valid="in [0, 1]")
    auto_augment: str = _knob("", "timm policy (rand-m9-mstd0.5, original, augmix-m5) or ta_wide")
    re_prob: float = _knob(0.0, "random erasing probability (timm's, per-pixel noise)",
                           valid="in [0, 1)")  # fmt: skip
    mixup: float = _knob(0.0, "mixup alpha (timm's Mixup; 0: off)", valid=">= 0")
    cutmix: float = _knob(0.0, "cutmix alpha (timm's Mixup; 0: off)", valid=">= 0")
    drop_rate: float | None = _knob(None, "classifier dropout (none: the architecture's paper's)",
                                    valid="in [0, 1)")  # fmt: skip
    drop_path_rate: float = _knob(0.0, "stochastic depth, 1 - survival probability (timm models)",
                                  valid="in [0, 1)")  # fmt: skip
    zero_init_last_bn: bool = _knob(False, "zero the last BN of each residual block (ResNets)")
    bn_momentum: float = _knob(0.1, "BatchNorm running-stat momentum (PyTorch's; TF's 0.99 = 0.01)",
                               valid="in [0, 1)")  # fmt: skip
    ema_decay: float = _knob(0.0, "keep an EMA of the weights and evaluate it (0: off)",
                             valid="in [0, 1)")  # fmt: skip
    loader_workers: int = _knob(2, "data loader processes per device", valid=">= 0")
    channels_last: str = _knob("auto", "channels-last memory format (auto: on CUDA)",
                               choices=SWITCHES)  # fmt: skip
    compile: bool = _knob(False, "torch.compile the model")
    sync_bn: bool = _knob(False, "synchronise BatchNorm statistics across DDP ranks")
    seed: int = _knob(0, "seeds weights, data order and augmentation", valid="in [0, 2**32)")

    def __post_init__(self) -> None:
        for key, choices in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                             ("channels_last", SWITCHES)):  # fmt: skip
            if getattr(self, key) not in choices:
                raise InputError(
                    f"{key} {getattr(self, key)!r}: expected one of {', '.join(choices)}"
                )
        for knob in fields(self):
            check_setting(knob.name, getattr(self, knob.name), knob.type, knob.metadata)
        if (self.mixup or self.cutmix) and self.batch_size % 2:
            raise InputError(f"batch_size {self.batch_size}: mixup and cutmix need an even batch")

    @property
    def mixes(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    def model_options(self) -> dict[str, Any]:
        """The regularisers built into the network (where the architecture has them)."""
        return {key: getattr(self, key) for key in OPTIONS}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Recipe:
        return cls(**values)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Recipe:
        """This recipe with `overrides` applied; strings are parsed as the field's type
        (that of its declared default: None declares an optional number)."""
        declared = {knob.name: knob.default for knob in fields(Recipe)}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise InputError(
                f"recipe has no setting {unknown[0]!r}; settings: {', '.join(declared)}"
            )
        return replace(self, **{key: parse_setting(key, value, declared[key])
                                for key, value in overrides.items()})  # fmt: skip


RECIPE_KEYS = tuple(knob.name for knob in fields(Recipe))


@dataclass(frozen=True)
class TrialConfig:
    """What one trial trains: the network, the recipe (the seed is one of its fields) and
    the shard folder (None where a caller logs trials without data, as tests do).

    Ray's param space holds trials as a dict of these fields' dicts, gridded where a space
    varies them (`tune_spaces.grid_space` and `with_seeds` build it, the sweep adds `data`);
    `of` reads a resolved trial config back, once, for the trial function, the console, the
    tracker and the estimate: nothing else indexes the dict.
    """

    model: ModelSpec
    recipe: Recipe
    data: str | None = None

    @property
    def seed(self) -> int:
        return self.recipe.seed

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> TrialConfig:
        """The typed config of a trial from the dict Ray resolved for it: `model` and
        `recipe` at the top (a grid of models; a searcher's proposal, whose model is
        resolved here), or under `trial` (a drawn trial); a `Repeater`'s
        `__trial_index__` offsets the seed."""
        chosen = config.get("trial", config)
        model = chosen["model"]
        spec = ModelSpec.from_dict(model) if "resolution" in model else _proposed(model)
        recipe = Recipe.from_dict(chosen["recipe"])
        if index := config.get("__trial_index__"):
            recipe = replace(recipe, seed=recipe.seed + int(index))
        data = config.get("data")
        return cls(spec, recipe, None if data is None else str(data))


def _proposed(model: Mapping[str, Any]) -> ModelSpec:
    """A searcher's model settings, resolved (its native resolution, multipliers) and checked."""
    built = {key: model[key] for key in ("width", "depth") if key in model}
    spec = resolve_model(model["arch"], None, model.get("stem"), **built)
    recorded = {key: value for key, value in model.items() if key in COEFFICIENTS}
    return replace(spec, **recorded)


def parse_setting(key: str, value: Any, like: Any) -> Any:
    """`value` as the type of the default `like` it replaces; strings are parsed (tuples
    as comma lists), other values pass through. InputError names the key."""
    if not isinstance(value, str):
        return value
    if like is None:  # an optional number: "none" keeps the default
        like = 0.0
        if value.lower() == "none":
            return None
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
