"""`ladder train`: train one architecture on a shard folder."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from lightning_modules.builder_keys import STEMS
from lightning_modules.recipes import RECIPES
from lightning_modules.shard_check import OPT_OUT
from lightning_modules.specs import Recipe


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", required=True, help="architecture (see `ladder profile --help`)")
    parser.add_argument("--data", required=True, type=Path, help="shard folder with manifest.json")
    parser.add_argument("--resolution", type=int, help="input size (default: the model's own)")
    parser.add_argument("--width", type=float, help="width multiplier (scalable archs)")
    parser.add_argument("--depth", type=float, help="depth multiplier (scalable archs)")
    parser.add_argument(
        "--stem", choices=STEMS, help="cifar: the entrance for 28-32 px inputs (default imagenet)"
    )
    add_recipe_flags(parser)
    parser.add_argument("--devices", type=int, default=1, help="GPUs, or CPU processes (DDP)")
    parser.add_argument("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="run folders go here")
    parser.add_argument("--experiment", default="train", help="MLflow experiment name")
    parser.add_argument(
        OPT_OUT,
        action="store_true",
        help="train even when shard files are missing or differ in size from the manifest, "
        "and say after each epoch how many samples it saw",
    )


def add_recipe_flags(parser: argparse.ArgumentParser) -> None:
    """`--recipe NAME`, then one flag per `Recipe` field overriding it: `lr` is `--lr`.

    The flags default to None (not given); `recipe_from` parses the given ones as the
    field's type, so a bad value is the same one-line error as a sweep's `--set`.
    """
    parser.add_argument("--recipe", default="default", metavar="NAME|FILE",
                        help=f"a named recipe ({', '.join(RECIPES)}; `ladder recipes`) or a "
                        ".yaml/.json file of recipe settings (default: default)")  # fmt: skip
    for knob in fields(Recipe):
        flag, help_text = f"--{knob.name.replace('_', '-')}", knob.metadata["help"]
        if isinstance(knob.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(flag, choices=knob.metadata.get("choices"),
                                help=f"{help_text} (default recipe: {knob.default})")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from pipeline.training import train

    return train.main(args)
