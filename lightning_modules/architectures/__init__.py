"""The model zoo: every rung of the ladder behind one `build_model(name, ...)`.

Like timm, each architecture is a factory registered under a name with `@register_model`.
Unlike timm, each entry also carries the facts the rest of the project needs without
building the network: its family and publication year (for the charts), its native and
minimum input resolution (for the CLI and the sweeps), and which scaling keys
(`width`, `depth`) it accepts. Weights are never downloaded: every model starts random.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from lightning_modules.architectures.small_stem import MIN_RESOLUTION, with_small_stem
from lightning_modules.builder_keys import STEMS, TIMM_PREFIX
from lightning_modules.errors import InputError

ModelFactory = Callable[..., nn.Module]  # factory(num_classes=, in_chans=, **scaling, **options)
TIMM_YEAR = 0  # not known for a timm model: it sorts first in ladder order
TIMM_OPTIONS = ("drop_rate", "drop_path_rate")  # what timm's create_model takes of a recipe

# Regularisers a recipe sets and only some architectures have (see `ModelInfo.options`).


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a registered architecture before building it.

    `min_resolution` is the smallest input side the network supports: its total stride
    (32; below it the last stages would see nothing but padding), or more where its
    pooling needs it (AlexNet's three 3x3/2 max-pools need 63).
    """

    name: str
    family: str
    year: int
    native_resolution: int
    min_resolution: int
    scaling_keys: tuple[str, ...]
    options: tuple[str, ...] = ()


_MODELS: dict[str, tuple[ModelFactory, ModelInfo]] = {}


def register_model(
    *,
    family: str,
    year: int,
    native_resolution: int = 224,
    min_resolution: int = 32,
    scaling_keys: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
    name: str | None = None,
) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering `factory` under `name` (default: the factory's own name);
    `options` are the regularisers of `builder_keys.OPTIONS` it takes as keyword arguments."""

    def register(factory: ModelFactory) -> ModelFactory:
        model_name = name or factory.__name__
        if model_name in _MODELS:
            raise ValueError(f"architecture {model_name!r} is registered twice")  # a bug, not input
        info = ModelInfo(
            model_name, family, year, native_resolution, min_resolution, scaling_keys, options
        )
        _MODELS[model_name] = (factory, info)
        return factory

    return register


def list_models() -> list[str]:
    """Registered names in ladder order: by publication year, then as registered."""
    return sorted(_MODELS, key=lambda name: _MODELS[name][1].year)


def model_info(name: str) -> ModelInfo:
    return _registered(name)[1]


def build_model(
    name: str,
    num_classes: int = 1000,
    in_chans: int = 3,
    options: Mapping[str, Any] | None = None,
    stem: str = "imagenet",
    **scaling: float,
) -> nn.Module:
    """A randomly initialised `name` for `num_classes` outputs and `in_chans` input channels.

    `scaling` holds the multipliers the architecture accepts (see `model_info(name)`),
    e.g. `build_model("efficientnet", width=1.2, depth=1.4)`. `stem="cifar"` adapts the
    network's entrance to 28-32 px inputs (`small_stem.py`). `options` are regularisers
    (`builder_keys.OPTIONS`): each reaches the factory only where the architecture has it,
    so that one recipe serves a whole ladder (drop path acts on EfficientNets, not on VGG).
    """
    factory, info = _registered(name)
    unknown = sorted(set(scaling) - set(info.scaling_keys))
    if unknown:
        accepted = ", ".join(info.scaling_keys) or "none"
        raise InputError(
            f"{name} does not accept scaling key(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    for key, value in scaling.items():
        if not value > 0:
            raise InputError(f"{name}: scaling key {key} must be positive, got {value}")
    if num_classes < 1 or in_chans < 1:
        raise InputError(
            f"{name}: num_classes and in_chans must be >= 1, got {num_classes} and {in_chans}"
        )
    check_stem(info, stem)
    kept = {key: value for key, value in (options or {}).items() if key in info.options}
    model = factory(num_classes=num_classes, in_chans=in_chans, **scaling, **kept)
    return model if stem == "imagenet" else with_small_stem(model, info.family)


def check_stem(info: ModelInfo, stem: str) -> None:
    """InputError unless `stem` is one of `STEMS` that the architecture has."""
    if stem not in STEMS:
        raise InputError(f"stem {stem!r}: expected one of {', '.join(STEMS)}")
    if stem == "cifar" and info.family not in MIN_RESOLUTION:
        has = ", ".join(sorted(MIN_RESOLUTION))
        raise InputError(f"{info.name} has no cifar stem (the families with one: {has})")


def min_resolution(info: ModelInfo, stem: str = "imagenet") -> int:
    """The smallest input side of the architecture with this stem."""
    return MIN_RESOLUTION[info.family] if stem == "cifar" else info.min_resolution


def _registered(name: str) -> tuple[ModelFactory, ModelInfo]:
    if name.startswith(TIMM_PREFIX):
        return _timm_model(name.removeprefix(TIMM_PREFIX))
    if name not in _MODELS:
        import timm

        if timm.is_model(name):
            raise InputError(f"unknown architecture {name!r}; timm has it: {TIMM_PREFIX}{name}")
        raise InputError(
            f"unknown architecture {name!r}; valid: {', '.join(list_models())}, or "
            f"{TIMM_PREFIX}NAME for any of timm's models"
        )
    return _MODELS[name]


@functools.cache
def _timm_model(name: str) -> tuple[ModelFactory, ModelInfo]:
    """Any timm model, `timm:NAME`: built by timm's public `create_model` (random weights),
    at the input size of its pretrained config (224 where it has none). It takes timm's
    dropout and drop path; it has no width, depth or cifar stem of the ladder's."""
    import timm

    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
        hint = f"; close: {', '.join(TIMM_PREFIX + match for match in close)}" if close else ""
        raise InputError(f"unknown timm model {name!r}{hint} (timm.list_models() lists them)")
    config = timm.models.get_pretrained_cfg(name)
    size = config.input_size[-1] if config is not None else 224

    def factory(num_classes: int, in_chans: int, **options: Any) -> nn.Module:
        given = {key: value for key, value in options.items() if value is not None}
        return timm.create_model(name, num_classes=num_classes, in_chans=in_chans, **given)

    info = ModelInfo(TIMM_PREFIX + name, "timm", TIMM_YEAR, size, 32, (), TIMM_OPTIONS)
    return factory, info


# Imported last: each family module registers its models with the decorator above.
from lightning_modules.architectures import efficientnet, lenet, torchvision_models  # noqa: E402, F401, I001
