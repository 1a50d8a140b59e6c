"""`ladder recipes`: the named training recipes and their sources."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="print this recipe's settings as JSON")


def run(args: argparse.Namespace) -> int:
    from pipeline.report import recipes

    print(recipes.recipe_json(args.name) if args.name else recipes.catalogue_text())
    return 0
