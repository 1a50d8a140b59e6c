"""An export folder's two files by name, and its config read without torch: what
`ladder evaluate` checks before it loads anything heavy (`lightning_modules.exported`
writes and loads the network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def read_config(folder: Path) -> dict[str, Any]:
    """An export's config.json; InputError unless both files are there and it parses."""
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise InputError(f"{folder}: no {name}; export a model with `ladder export`")
    try:
        config = json.loads((folder / CONFIG_FILE).read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{folder / CONFIG_FILE}: not valid JSON ({error})") from None
    if not {"architecture", "num_classes", "pretrained_cfg"} <= config.keys():
        raise InputError(f"{folder / CONFIG_FILE}: not a timm model config")
    return config
