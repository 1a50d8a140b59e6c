"""Search spaces for `ladder sweep`, one module per space.

Each module exposes `DEFAULTS` (its own documented settings), `RECIPE` (the named
`Recipe` it trains with) and `space(**overrides) -> dict`, a Ray Tune param space:

    {"model": tune.grid_search([ModelSpec fields, ...]), "recipe": Recipe fields}

An override is a space setting, a recipe field (`--set lr=0.01`) or `recipe`, the name
of another recipe to start from (`--set recipe=timm_efficientnet`, or `--recipe`), so
every space trains all its models under one recipe and its trials differ only in the
model. `with_seeds` then grids the recipe's seed too (`ladder sweep --seeds K`): each
model is trained K times, and the spread of its top-1 says how much of a difference
between two models is noise.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.recipes import named_recipe
from lightning_modules.specs import RECIPE_KEYS, ModelSpec, Recipe, parse_setting

MAX_SEEDS = 100  # a typo (--seeds 1000) must not plan a sweep a thousand times the size

SPACES = (
    "compound_scaling",
    "efficientnet_family",
    "ladder",
    "demo",
    "single_dimension",
    "width_by_depth_resolution",
    "fashion_mnist",
)


def load(name: str) -> ModuleType:
    """The space module called `name`; InputError listing the valid names otherwise."""
    if name not in SPACES:
        raise InputError(f"unknown space {name!r}; valid spaces: {', '.join(SPACES)}")
    return importlib.import_module(f"tune_spaces.{name}")


def resolve(
    defaults: Mapping[str, Any], recipe: Recipe, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], Recipe]:
    """(settings, recipe): the space's defaults and its recipe, updated by `overrides`.

    Strings are parsed as the type of the default they replace. An override that is
    neither a setting nor a recipe field is an error: a typo must not be ignored.
    """
    known = {*defaults, *RECIPE_KEYS, "recipe"}
    unknown = [key for key in overrides if key not in known]
    if unknown:
        raise InputError(
            f"space has no setting {unknown[0]!r}; settings: {', '.join(defaults)}, "
            f"recipe (a name), and the recipe's {', '.join(RECIPE_KEYS)}"
        )
    if overrides.get("recipe") is not None:
        recipe = named_recipe(str(overrides["recipe"]))
    settings = {
        key: parse_setting(key, overrides[key], like) if key in overrides else like
        for key, like in defaults.items()
    }
    recipe = recipe.with_overrides({k: v for k, v in overrides.items() if k in RECIPE_KEYS})
    return settings, recipe


def grid_space(models: list[ModelSpec], recipe: Recipe) -> dict[str, Any]:
    """A param space: a grid over the `models`, all under one `recipe`."""
    if not models:
        raise InputError("the space has no model to train")
    from ray import tune  # here, not at the top: `ladder sweep --help` lists SPACES only

    return {
        "model": tune.grid_search([model.to_dict() for model in models]),
        "recipe": recipe.to_dict(),
    }


def models_of(param_space: Mapping[str, Any]) -> list[ModelSpec]:
    """The models a param space grids over (for printing and checks)."""
    return [ModelSpec.from_dict(model) for model in param_space["model"]["grid_search"]]


def with_seeds(param_space: Mapping[str, Any], seeds: int) -> dict[str, Any]:
    """The param space with every model trained `seeds` times, with the recipe's seed and
    the `seeds - 1` after it (0..K-1 by default). Tune grids the seed after the models,
    so every model gets its first seed before any gets a second."""
    if seeds == 1:
        return dict(param_space)
    from ray import tune

    first = param_space["recipe"]["seed"]
    grid = tune.grid_search(list(range(first, first + seeds)))
    return {**param_space, "recipe": {**param_space["recipe"], "seed": grid}}


def seeds_of(param_space: Mapping[str, Any]) -> list[int]:
    """The seeds every model of a param space trains with: one, unless `with_seeds` made more."""
    seed = param_space["recipe"]["seed"]
    return list(seed["grid_search"]) if isinstance(seed, Mapping) else [seed]


def recipe_of(param_space: Mapping[str, Any]) -> Recipe:
    """The space's recipe, at its first seed: what every trial shares but the seed."""
    return Recipe.from_dict({**param_space["recipe"], "seed": seeds_of(param_space)[0]})
