"""Search spaces for `ladder sweep`, one module per space.

Each module exposes `DEFAULTS` (its documented settings, the training recipe included)
and `space(**overrides) -> dict`, a Ray Tune param space. Every trial's config is flat:
the shared recipe keys below plus one `model` entry that the space grids over:
`{"arch", "width", "depth", "resolution"}` and, for the EfficientNet spaces, the scaling
coefficients `alpha`, `beta`, `gamma`, `phi` they came from.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ray import tune

SPACES = ("compound_scaling", "efficientnet_family", "ladder", "demo")

# One training recipe for every space, so that trials differ only in the model.
RECIPE: dict[str, Any] = {
    "epochs": 10,
    "batch_size": 64,
    "lr": 0.05,
    "optimizer": "sgd",
    "weight_decay": 5e-5,
    "warmup_epochs": 1.0,
    "label_smoothing": 0.1,
    "min_crop": 0.08,  # RandomResizedCrop's smallest area fraction
    "hflip": 0.5,  # horizontal flip probability
    "loader_workers": 2,
    "seed": 0,
}


def load(name: str) -> ModuleType:
    """The space module called `name`; ValueError listing the valid names otherwise."""
    if name not in SPACES:
        raise ValueError(f"unknown space {name!r}; valid spaces: {', '.join(SPACES)}")
    return importlib.import_module(f"tune_spaces.{name}")


def parse_value(text: str, like: Any) -> Any:
    """Parse a `--set` string as the type of the default it replaces (tuples: comma lists)."""
    if isinstance(like, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    if isinstance(like, tuple):
        item = like[0] if like else ""
        return tuple(parse_value(part.strip(), item) for part in text.split(",") if part.strip())
    if isinstance(like, (int, float)):
        try:
            return type(like)(text)
        except ValueError:
            kind = "an integer" if isinstance(like, int) else "a number"
            raise ValueError(f"expected {kind}, got {text!r}") from None
    return text


def resolve(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults updated by overrides; strings are parsed as the default's type.

    An override the space does not have is an error (a typo must not be silently ignored).
    """
    settings = dict(defaults)
    for key, value in overrides.items():
        if key not in defaults:
            raise ValueError(f"space has no setting {key!r}; settings: {', '.join(defaults)}")
        try:
            settings[key] = parse_value(value, defaults[key]) if isinstance(value, str) else value
        except ValueError as error:
            raise ValueError(f"setting {key}: {error}") from None
    return settings


def grid_space(settings: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    """A param space: the recipe part of `settings` fixed, a grid over the `models`."""
    if not models:
        raise ValueError("the space has no model to train")
    recipe = {key: settings[key] for key in RECIPE}
    return {**recipe, "model": tune.grid_search(models)}


def models_of(param_space: dict[str, Any]) -> list[dict[str, Any]]:
    """The list of models a param space grids over (for printing and checks)."""
    return list(param_space["model"]["grid_search"])
