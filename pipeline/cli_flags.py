"""Flags that several commands share, generated from the specs they fill: one flag per
`ModelSpec` field that carries help (`--arch`, `--resolution`, `--width`, `--depth`,
`--stem`) and one per `Recipe` field (`lr` is `--lr`), and back into the typed specs.

The command line's own helper, beside `pipeline.cli`: only commands import it (they are
the only code that reads flags; the libraries take the specs).
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.recipes import RECIPES
from lightning_modules.specs import ModelSpec, Recipe

TYPES = {"int": int, "float": float, "str": str}


def add_model_flags(parser: argparse.ArgumentParser, arch_positional: bool = False) -> None:
    """A flag per `ModelSpec` field that has help; `--arch` is required (or positional)."""
    for knob in fields(ModelSpec):
        help_text = knob.metadata.get("help")
        if help_text is None:
            continue
        kind = TYPES[str(knob.type).removesuffix(" | None")]
        choices = knob.metadata.get("choices")
        if knob.name == "arch":
            names = ["arch"] if arch_positional else ["--arch"]
            extra = {} if arch_positional else {"required": True}
            parser.add_argument(*names, help=help_text, **extra)
        else:
            parser.add_argument(f"--{knob.name}", type=kind, choices=choices, help=help_text)


def model_from(args: argparse.Namespace) -> ModelSpec:
    """The checked `ModelSpec` the model flags give."""
    from lightning_modules.specs import resolve_model

    return resolve_model(args.arch, args.resolution, args.stem, width=args.width, depth=args.depth)


def add_recipe_flags(parser: argparse.ArgumentParser, default: str = "default") -> None:
    """`--recipe NAME|FILE`, then one flag per `Recipe` field overriding it: `lr` is `--lr`.

    The flags default to None (not given); `recipe_from` parses the given ones as the
    field's type, so a bad value is the same one-line error as a sweep's `--set`.
    """
    parser.add_argument("--recipe", default=default, metavar="NAME|FILE",
                        help=f"a named recipe ({', '.join(RECIPES)}; `ladder recipes`) or a "
                        f".yaml/.json file of recipe settings (default: {default})")  # fmt: skip
    for knob in fields(Recipe):
        flag, help_text = f"--{knob.name.replace('_', '-')}", knob.metadata["help"]
        if isinstance(knob.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, choices=knob.metadata.get("choices"),
                                help=f"{help_text} (default recipe: {knob.default})")  # fmt: skip


def recipe_from(args: argparse.Namespace) -> Recipe:
    """The `--recipe` with the recipe flags that were given applied."""
    from lightning_modules.recipes import named_recipe

    given: dict[str, Any] = {knob.name: getattr(args, knob.name) for knob in fields(Recipe)}
    overrides = {key: value for key, value in given.items() if value is not None}
    try:
        recipe = named_recipe(args.recipe)
    except InputError as error:
        raise InputError(f"--recipe {args.recipe}: {error}") from None
    try:
        return recipe.with_overrides(overrides)
    except InputError as error:
        raise InputError(f"--{str(error).removeprefix('setting ').replace('_', '-')}") from None
