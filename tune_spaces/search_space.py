"""A search space as data: the models a sweep trains and the recipe it trains them with,
each setting fixed, a grid, or a distribution.

    models:                      # one entry or several; each entry's settings are
      - arch: mobilenetv2        #   ModelSpec fields (arch, resolution, width, depth,
        width: {uniform: [0.5, 1.5]}   # stem, and alpha, beta, gamma, phi, macs_ratio,
        resolution: 32           #   which record a compound-scaling point)
        stem: cifar
    recipe:                      # Recipe fields over the recipe `from` names (or a file)
      from: demo
      lr: {loguniform: [1e-4, 1e-2]}
      epochs: {grid: [2, 4]}

A value is fixed (a number, text, true/false, null), or one of

    {grid: [a, b, ...]}         every value, in every sample (Tune's grid_search)
    {choice: [a, b, ...]}       one at random (tune.choice)
    {uniform: [low, high]}      tune.uniform; with q: tune.quniform (multiples of q)
    {loguniform: [low, high]}   tune.loguniform; with q: tune.qloguniform
    {randint: [low, high]}      tune.randint, high excluded; with q: tune.qrandint

Grids expand as Tune expands them (every combination, entry by entry); distributions are
drawn as Tune's domains draw them, `samples` times per grid point, from one seeded numpy
generator, so the same space, samples and seed give the same trials. A searcher that
proposes trials itself (Optuna) gets Tune's domains (`Distribution.domain`). Built-in
spaces and a user's `space()` function return this same type (`tune_spaces.load`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from lightning_modules.errors import InputError
from lightning_modules.recipes import named_recipe
from lightning_modules.specs import RECIPE_KEYS, ModelSpec, Recipe, resolve_model

DISTRIBUTIONS = ("grid", "choice", "uniform", "loguniform", "randint")
MODEL_KEYS = tuple(knob.name for knob in fields(ModelSpec))
RECORDED_KEYS = ("alpha", "beta", "gamma", "phi", "macs_ratio")  # kept with the model
COMPOUND = ("alpha", "beta", "gamma", "phi")  # without width and depth: they scale the model
MODEL_TYPES = {"arch": str, "stem": str, "resolution": int}  # the rest: numbers
FROM = "from"  # the recipe entry's base: a named recipe or a recipe file


class Distribution(BaseModel):
    """One setting that varies: exactly one of `DISTRIBUTIONS`, and `q` to quantize."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grid: list[Any] | None = None
    choice: list[Any] | None = None
    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None
    q: int | float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        given = [kind for kind in DISTRIBUTIONS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of {', '.join(DISTRIBUTIONS)}, got {given}")
        values = getattr(self, self.kind)
        if self.kind in ("grid", "choice"):
            if not values or any(isinstance(value, (dict, list)) for value in values):
                raise ValueError(f"{self.kind}: expected a non-empty list of plain values")
            if self.q is not None:
                raise ValueError("q quantizes uniform, loguniform and randint only")
        elif not values[0] < values[1]:
            raise ValueError(f"{self.kind} {list(values)}: expected [low, high] with low < high")
        elif self.kind == "loguniform" and values[0] <= 0:
            raise ValueError(f"loguniform {list(values)}: expected low > 0")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in DISTRIBUTIONS if getattr(self, kind) is not None)

    @property
    def bounds(self) -> list[Any]:
        """The values a check can try: a list's every value, a range's two ends."""
        return list(getattr(self, self.kind))

    def domain(self) -> Any:
        """Tune's domain for this distribution (a grid is Tune's `grid_search` instead)."""
        from ray import tune  # here: a space is read, printed and checked without Ray

        if self.kind == "choice":
            return tune.choice(list(self.choice))
        low, high = getattr(self, self.kind)
        if self.q is None:
            return getattr(tune, self.kind)(low, high)
        return getattr(tune, f"q{self.kind}")(low, high, self.q)

    def draw(self, rng: Any) -> Any:
        """One value, as Tune's domain draws it (numpy's `rng`; with `q`, the range's
        multiples of q, its ends rounded inwards), without importing Tune: a dry run of a
        hundred draws stays light. A test holds the two to the same distribution."""
        if self.kind == "choice":
            return self.choice[int(rng.integers(len(self.choice)))]
        low, high = getattr(self, self.kind)
        q = self.q
        if q is not None:  # Tune's `Quantized`: a grid of multiples of q inside the range
            low, high = math.ceil(low / q) * q, math.floor(high / q) * q
        if self.kind == "randint":
            if q is None:
                return int(rng.integers(low, high))  # high excluded, as tune.randint
            return int(rng.integers(round(low / q), round(high / q) + (q != 1)) * q)
        if self.kind == "uniform":
            value = float(rng.uniform(low, high))
        else:
            value = float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return value if q is None else float(round(value / q) * q)

    def to_value(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.model_dump(exclude_none=True).items()
        }


def _setting(raw: Any) -> Any:
    """A setting as written: a mapping is a `Distribution`, a list is an error, else fixed."""
    if isinstance(raw, Distribution):
        return raw
    if isinstance(raw, Mapping):
        return Distribution.model_validate(dict(raw))
    if isinstance(raw, (list, tuple)):
        raise ValueError(f"{list(raw)!r}: a list is written {{grid: [...]}} or {{choice: [...]}}")
    return raw


Setting = Annotated[Any, BeforeValidator(_setting)]


class SearchSpace(BaseModel):
    """The models and the recipe of a sweep, each setting fixed, a grid or a distribution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[dict[str, Setting]] = Field(min_length=1)
    recipe: dict[str, Setting] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _model_keys(cls, models: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for entry in models:
            unknown = sorted(set(entry) - set(MODEL_KEYS))
            if unknown:
                raise ValueError(f"unknown model setting {unknown[0]!r}; settings: "
                                 f"{', '.join(MODEL_KEYS)}")  # fmt: skip
            if "arch" not in entry:
                raise ValueError(f"a model entry needs arch (got {sorted(entry)})")
        return models

    @field_validator("recipe")
    @classmethod
    def _recipe_keys(cls, recipe: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(recipe) - {FROM, *RECIPE_KEYS})
        if unknown:
            raise ValueError(f"unknown recipe setting {unknown[0]!r}; settings: {FROM} (a "
                             f"recipe's name or file), {', '.join(RECIPE_KEYS)}")  # fmt: skip
        if FROM in recipe and not isinstance(recipe[FROM], str):
            raise ValueError(f"from {recipe[FROM]!r}: expected a recipe's name or file")
        return recipe

    @classmethod
    def of_models(cls, models: list[ModelSpec], recipe: Recipe) -> SearchSpace:
        """A grid over fixed `models`, all under one fixed `recipe` (the built-in spaces)."""
        if not models:
            raise InputError("the space has no model to train")
        return cls(models=[model.to_dict() for model in models], recipe=recipe.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """The space as a file writes it (`parse` reads it back equal)."""

        def plain(settings: Mapping[str, Any]) -> dict[str, Any]:
            return {key: value.to_value() if isinstance(value, Distribution) else value
                    for key, value in settings.items()}  # fmt: skip

        return {"models": [plain(entry) for entry in self.models], "recipe": plain(self.recipe)}

    def base_recipe(self) -> Recipe:
        """The recipe the `recipe` entry's fixed settings start from."""
        return named_recipe(self.recipe.get(FROM, "default"))

    def distributions(self) -> dict[str, Distribution]:
        """Every setting that is drawn, by `model.KEY` / `recipe.KEY` (grids are not)."""
        return {key: value for key, value in self._settings()
                if isinstance(value, Distribution) and value.kind != "grid"}  # fmt: skip

    def varied_recipe_keys(self) -> tuple[str, ...]:
        """Recipe settings that differ between trials (a grid or a distribution)."""
        return tuple(key for key, value in self.recipe.items() if isinstance(value, Distribution))

    def grid_points(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(model settings, recipe settings) for every combination of the grids, entry by
        entry; distributions are left in place, to be drawn per sample."""
        points = []
        recipes = _expand(self.recipe)
        for entry in self.models:
            points += [(model, recipe) for model in _expand(entry) for recipe in recipes]
        return points

    def draw(self, samples: int, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """`samples` draws of every grid point (Tune's order: the whole grid per sample),
        with fixed values only; the same arguments give the same draws."""
        points = self.grid_points()
        if not self.distributions():
            return points * samples
        import numpy as np

        rng = np.random.default_rng(seed)

        def drawn(settings: dict[str, Any]) -> dict[str, Any]:
            return {key: _readable(value, value.draw(rng))
                    if isinstance(value, Distribution) else value
                    for key, value in settings.items()}  # fmt: skip

        return [(drawn(model), drawn(recipe)) for _ in range(samples) for model, recipe in points]

    def tune_space(self) -> dict[str, Any]:
        """The space as Tune's nested param space of domains, for a search algorithm that
        proposes the trials itself (Optuna): one model entry and no grid."""
        grids = [key for key, value in self._settings() if _is_grid(value)]
        if len(self.models) != 1 or grids:
            raise InputError(
                "a searcher that proposes trials (optuna) takes one model entry and no grid"
                f"{f' (grid: {grids[0]})' if grids else ''}: use choice for a list of values"
            )

        def domains(settings: Mapping[str, Any]) -> dict[str, Any]:
            return {key: value.domain() if isinstance(value, Distribution) else value
                    for key, value in settings.items() if key != FROM}  # fmt: skip

        recipe = {**self.base_recipe().to_dict(), **domains(self.recipe)}
        return {"model": domains(self.models[0]), "recipe": recipe}

    def _settings(self) -> list[tuple[str, Any]]:
        pairs = [(f"model.{key}", value) for entry in self.models for key, value in entry.items()]
        return pairs + [(f"recipe.{key}", value) for key, value in self.recipe.items()]


def _readable(distribution: Distribution, value: Any) -> Any:
    """A drawn number; a continuous one to 4 significant digits, so that a trial's name
    states exactly what it trains (`_lr0.003142`)."""
    if isinstance(value, float) and distribution.q is None:
        return float(f"{value:.4g}")
    return value


def _is_grid(value: Any) -> bool:
    return isinstance(value, Distribution) and value.kind == "grid"


def _expand(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the grids of `settings`, in key order (the last varies fastest)."""
    keys = [key for key, value in settings.items() if _is_grid(value)]
    combos = itertools.product(*(settings[key].grid for key in keys))
    return [{**settings, **dict(zip(keys, combo, strict=True))} for combo in combos]


def trial_of(
    model: Mapping[str, Any], recipe: Mapping[str, Any], base: Recipe
) -> tuple[ModelSpec, Recipe]:
    """The checked `ModelSpec` and `Recipe` of fixed settings (one grid point's draw).

    The model goes through `resolve_model` (the architecture's native resolution and its
    multipliers filled in, each checked); the recipe is `base` with the settings applied,
    each checked as `Recipe` checks its fields. InputError names the setting."""
    for key, value in model.items():
        kind = MODEL_TYPES.get(key, float)
        if value is not None and not _is_kind(value, kind):
            expected = {str: "text", int: "an integer"}.get(kind, "a number")
            raise InputError(f"model.{key} {value!r}: expected {expected}")
    built = {key: model[key] for key in ("width", "depth") if model.get(key) is not None}
    resolution = model.get("resolution")
    if not built and all(model.get(key) is not None for key in COMPOUND):
        built, resolution = compound_scaled(model)
    spec = resolve_model(model["arch"], resolution, model.get("stem"), **built)
    recorded = {key: model[key] for key in RECORDED_KEYS if model.get(key) is not None}
    try:
        settings = base.with_overrides({k: v for k, v in recipe.items() if k != FROM})
    except InputError as error:
        raise InputError(f"recipe.{error}") from None
    return replace(spec, **recorded), settings


def compound_scaled(model: Mapping[str, Any]) -> tuple[dict[str, float], int]:
    """(width and depth, resolution) of EfficientNet's compound scaling at `phi`: depth
    alpha^phi, width beta^phi, the base resolution (the entry's, else the architecture's
    own) times gamma^phi, as `tune_spaces.compound_scaling.scaled_model` scales B0."""
    alpha, beta, gamma, phi = (model[key] for key in COMPOUND)
    base = resolve_model(model["arch"], model.get("resolution"), model.get("stem")).resolution
    return {"width": round(beta**phi, 4), "depth": round(alpha**phi, 4)}, round(base * gamma**phi)


def _is_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
