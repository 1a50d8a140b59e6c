"""The demo's shards: `data/digits` in the working directory, built on first use.

`ladder sweep --space demo` without `--data` uses them, as `make sweep` does; they are
built exactly as `ladder shards --demo digits --out data/digits` builds them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lightning_modules.manifest import MANIFEST

DEMO_DATA = Path("data/digits")


def demo_shards(out: Path = DEMO_DATA) -> Path:
    """The demo shard folder, built first if it has no complete manifest."""
    from pipeline.data import shards

    if not (out / MANIFEST).is_file():
        print(f"building the demo shards: ladder shards --demo digits --out {out}", flush=True)
        parser = argparse.ArgumentParser(prog="ladder shards")
        shards.configure(parser)
        shards.run(parser.parse_args(["--demo", "digits", "--out", str(out)]))
        sys.stdout.flush()
    return out
