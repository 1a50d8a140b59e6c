"""`ladder recipes`: the named training recipes, their sources, and how they differ from them.

`ladder recipes` lists each recipe with its source; `ladder recipes NAME` prints every
setting of one (the values `--recipe NAME` trains with) as JSON.
"""

from __future__ import annotations

import argparse
import json
import textwrap

from lightning_modules.recipes import CATALOGUE, named_recipe


def main(args: argparse.Namespace) -> int:
    if args.name:
        print(json.dumps(named_recipe(args.name).to_dict(), indent=2))
        return 0
    for name, entry in CATALOGUE.items():
        recipe = entry.recipe
        print(f"{name}: {recipe.optimizer}, lr {recipe.lr:g}"
              f"{f' per {recipe.lr_base_size} images' if recipe.lr_base_size else ''}, "
              f"{recipe.schedule}, {recipe.epochs} epochs")  # fmt: skip
        print(textwrap.fill(entry.source, 96, initial_indent="  source: ",
                            subsequent_indent="    "))  # fmt: skip
        if entry.differs:
            print(textwrap.fill(entry.differs, 96, initial_indent="  differs: ",
                                subsequent_indent="    "))  # fmt: skip
    return 0
