"""`ladder recipes`: the named training recipes, their sources, and how they differ from them.

`ladder recipes` lists each recipe with its source; `ladder recipes NAME` prints every
setting of one (the values `--recipe NAME` trains with) as JSON.
"""

from __future__ import annotations

import json
import textwrap

from lightning_modules.recipes import CATALOGUE, named_recipe


def recipe_json(name: str) -> str:
    """Every setting of recipe `name` as JSON: what `--recipe FILE` reads back."""
    return json.dumps(named_recipe(name).to_dict(), indent=2)


def catalogue_text() -> str:
    """Each named recipe in a few lines: its optimizer and schedule, its source, and
    where it departs from that source."""
    lines = []
    for name, entry in CATALOGUE.items():
        recipe = entry.recipe
        lines.append(f"{name}: {recipe.optimizer}, lr {recipe.lr:g}"
                     f"{f' per {recipe.lr_base_size} images' if recipe.lr_base_size else ''}, "
                     f"{recipe.schedule}, {recipe.epochs} epochs")  # fmt: skip
        lines.append(textwrap.fill(entry.source, 96, initial_indent="  source: ",
                                   subsequent_indent="    "))  # fmt: skip
        if entry.differs:
            lines.append(textwrap.fill(entry.differs, 96, initial_indent="  differs: ",
                                       subsequent_indent="    "))  # fmt: skip
    return "\n".join(lines)
