"""`ladder calibrate`: the pipeline's training beside a bare PyTorch loop."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lightning_modules.errors import InputError
from lightning_modules.recipes import RECIPES


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, type=Path, help="shard folder (ladder shards)")
    parser.add_argument("--arch", default="lenet5", help="architecture (default lenet5)")
    parser.add_argument("--stem", help="cifar: the entrance for 28-32 px inputs")
    parser.add_argument("--resolution", type=int, help="input size (default: the model's own)")
    parser.add_argument("--recipe", default="fashion_mnist", metavar="NAME|FILE",
                        help=f"a named recipe ({', '.join(RECIPES)}) or a .yaml/.json file "
                        "(default: fashion_mnist)")  # fmt: skip
    parser.add_argument("--epochs", type=int, help="epochs of each (default: the recipe's)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")


def run(args: argparse.Namespace) -> int:
    from lightning_modules.manifest import load_manifest
    from lightning_modules.recipes import named_recipe
    from lightning_modules.specs import resolve_model
    from pipeline.training.calibrate import calibrate

    manifest = load_manifest(args.data)
    spec = resolve_model(args.arch, args.resolution, args.stem)
    recipe = named_recipe(args.recipe)
    if args.epochs is not None:
        if args.epochs < 1:
            raise InputError(f"--epochs {args.epochs}: expected >= 1")
        recipe = recipe.with_overrides({"epochs": args.epochs})
    text = json.dumps(calibrate(args.data, manifest, spec, recipe), indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0
