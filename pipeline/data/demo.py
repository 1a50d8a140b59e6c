"""The demo's shards: `data/digits` in the working directory, built on first use.

`ladder sweep --space demo` without `--data` uses them, as `make sweep` does; they are
built exactly as `ladder shards --demo digits --out data/digits` builds them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lightning_modules.manifest import MANIFEST
from pipeline.data import DEFAULT_MAX_SIZE, DEFAULT_SHARD_SIZE, default_workers

DEMO_DATA = Path("data/digits")


def demo_shards(out: Path = DEMO_DATA) -> Path:
    """The demo shard folder, built first if it has no complete manifest."""
    from pipeline.data.digits import digits_source
    from pipeline.data.shards import write_shards

    if not (out / MANIFEST).is_file():
        print(f"building the demo shards: ladder shards --demo digits --out {out}", flush=True)
        write_shards(out, digits_source(0), max_size=DEFAULT_MAX_SIZE, overwrite=False,
                     shard_size=DEFAULT_SHARD_SIZE, seed=0, workers=default_workers())  # fmt: skip
        sys.stdout.flush()
    return out
