"""Search spaces for `ladder sweep`: the built-in ones, one module each, and a user's file.

A space is a `SearchSpace` (`tune_spaces.search_space`): the models and the recipe a
sweep trains, each setting fixed, a grid or a distribution. It is written in a sweep file
(`ladder sweep --config FILE`, its `space:` section), or returned by a Python function
where a file cannot say it, such as the compound constraint alpha * beta^2 * gamma^2 ~= 2:

    # my_space.py: `ladder sweep --space my_space.py --set depth=1.5`
    from tune_spaces import SearchSpace

    def space(**settings: str) -> SearchSpace:
        # settings: the sweep's --set KEY=VALUE pairs, as text
        depth = float(settings.get("depth", "1.0"))
        return SearchSpace(models=[{"arch": "efficientnet", "depth": depth, "resolution": 48}],
                           recipe={"from": "demo", "lr": {"loguniform": [1e-4, 1e-2]}})

Each built-in module exposes `DEFAULTS` (its own documented settings), `RECIPE` (the
named `Recipe` it trains with) and such a `space(**overrides)`: a grid over its models
under one recipe. An override is a space setting, a recipe field (`--set lr=0.01`) or
`recipe`, the name of another recipe to start from (`--set recipe=timm_efficientnet`, or
`--recipe`). `ladder sweep --space NAME --print-config` prints a built-in as a sweep file.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.recipes import named_recipe
from lightning_modules.specs import RECIPE_KEYS, ModelSpec, Recipe, parse_setting
from tune_spaces.search_space import SearchSpace

__all__ = ["SPACES", "SearchSpace", "load", "resolve", "grid_space", "models_of"]

SPACES = (
    "compound_scaling",
    "efficientnet_family",
    "ladder",
    "demo",
    "single_dimension",
    "width_by_depth_resolution",
    "fashion_mnist",
)


def load(name: str) -> Callable[..., SearchSpace]:
    """The `space(**settings)` function of built-in space `name`, or of a Python file
    (`name` ending in .py); InputError listing the valid names otherwise."""
    if name.endswith(".py"):
        return _space_function(Path(name))
    if name not in SPACES:
        raise InputError(
            f"unknown space {name!r}; valid spaces: {', '.join(SPACES)}, or a .py file "
            "defining space(**settings)"
        )
    return importlib.import_module(f"tune_spaces.{name}").space


def _space_function(path: Path) -> Callable[..., SearchSpace]:
    """`space` of the Python file at `path`, which must define it."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    module_spec = importlib.util.spec_from_file_location(f"user_space_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    function = getattr(module, "space", None)
    if not callable(function):
        raise InputError(f"{path}: defines no function space(**settings) -> SearchSpace")
    return function


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


def grid_space(models: list[ModelSpec], recipe: Recipe) -> SearchSpace:
    """A space that grids over the `models`, all under one `recipe`."""
    return SearchSpace.of_models(models, recipe)


def models_of(space: SearchSpace) -> list[ModelSpec]:
    """The models of a space whose model settings are all fixed (the built-in grids)."""
    return [ModelSpec.from_dict(model) for model in space.models]
