"""`ladder bench rank-split`: who reads what at scale, by the data module's own rule.

A DDP run of R ranks with W DataLoader workers each has R x W readers. The data module
(`lightning_modules.data`, its docstring's "Who reads what") decides which shards and
samples each reader owns (`ShardDataModule.shard_reader`: `ReaderSplit.plan`, then
`ShardReader.owned` per worker) and how many batches every rank yields per epoch
(`ShardDataModule.batches_per_epoch`). This benchmark runs that code, unchanged, on a
folder of `--shards` train and `--val-shards` val shards of `--per-shard` samples each
(a real manifest; the shard files are empty, as nothing is read) at each of `--ranks`,
and reports for each rank count and split:

  - whether ranks, then workers, split by shard or by sample;
  - samples per rank and per reader (min, max; and every rank's), ranks and readers that
    own none, and samples that no reader or more than one reader owns;
  - the batches each rank can yield: train, the rule's count when one of its workers owns
    samples (they cycle); val, at most its samples in batches (not cycled);
  - train: passes over its own samples per epoch (a rank or worker owning fewer samples
    repeats them); val: samples dropped (a rank holding one more than the rule counts);
  - the seconds planning took: in all, the slowest rank's setup (its shards found on disk
    and the plan, once per loader) and the slowest reader's share (what one worker spends
    at the start of every epoch).

`ok` says: every rank yields the same number (>= 1) of batches, no rank owns nothing, and
every sample has exactly one reader. A reader without data is allowed (the loader counts
the workers that have some), so it is counted, not failed.

`bench_rank_split(setup_of(...))` is the command's call, and a notebook's.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lightning_modules.errors import InputError

SPLITS = ("train", "val")
MAX_SAMPLES = 10_000_000  # per split: ImageNet's train split is 1.28 M
MAX_CHECKS = 200_000_000  # ownership tests (`ShardReader.owned`): ~2 min here


@dataclass(frozen=True)
class Setup:
    """What to plan, checked (`setup_of`)."""

    shards: dict[str, int]  # per split
    per_shard: int
    ranks: list[int]
    workers: int
    batch_size: int


# ------------------------------------------------------------------ the settings


def count_of(flag: str, value: object, limit: int) -> int:
    """`value` (int, or text for `--shards`) as a count from 1 to `limit`, else the error."""
    try:
        count = int(str(value))
    except ValueError:
        count = 0
    if not 1 <= count <= limit:
        raise InputError(f"{flag} {value!r}: expected a whole number from 1 to {limit:,}")
    return count


def ranks_of(text: str, limit: int = 4096) -> list[int]:
    try:
        ranks = sorted({int(part) for part in text.split(",")})
    except ValueError:
        ranks = []
    if not ranks or ranks[0] < 1 or ranks[-1] > limit:
        raise InputError(
            f"--ranks {text!r}: expected rank counts from 1 to {limit:,} like 8,64,512"
        )
    return ranks


def setup_of(
    shards: int | str, val_shards: int, per_shard: int, ranks: str, workers: int, batch_size: int
) -> Setup:
    """The settings (the flags' values: `ranks` as in `--ranks 8,64`), each checked, then
    the samples and the planning work they add up to."""
    setup = Setup(
        shards={"train": count_of("--shards", shards, 100_000),
                "val": count_of("--val-shards", val_shards, 100_000)},
        per_shard=count_of("--per-shard", per_shard, 100_000),
        ranks=ranks_of(ranks),
        workers=count_of("--workers", workers, 64),
        batch_size=count_of("--batch-size", batch_size, 65_536),
    )  # fmt: skip
    for split, flag in zip(SPLITS, ("--shards", "--val-shards"), strict=True):
        samples = setup.shards[split] * setup.per_shard
        if samples > MAX_SAMPLES:
            raise InputError(
                f"{flag} {setup.shards[split]} x --per-shard {setup.per_shard}: {samples:,} "
                f"{split} samples; expected at most {MAX_SAMPLES:,}"
            )
    checks = planning_checks(setup)
    if checks > MAX_CHECKS:
        raise InputError(
            f"--ranks {ranks} x --workers {setup.workers} over {setup.shards['train']:,} + "
            f"{setup.shards['val']:,} shards of {setup.per_shard:,}: about {checks:,} ownership "
            f"tests to plan; expected at most {MAX_CHECKS:,} (fewer ranks, workers or samples)"
        )
    return setup


def planning_checks(setup: Setup) -> int:
    """About how many tests planning every reader takes: `ShardReader.owned` tests each
    shard, then each sample of the shards it owns (shared by the ranks or workers that
    split by sample)."""
    from lightning_modules.shard_reader import ReaderSplit

    checks = 0
    for ranks in setup.ranks:
        for split, shards in setup.shards.items():
            plan = ReaderSplit.plan(shards, ranks, setup.workers, training=split == "train")
            sharing = (1 if plan.ranks_by_shard else ranks) * (
                1 if plan.workers_by_shard else setup.workers
            )
            checks += ranks * setup.workers * shards + shards * setup.per_shard * sharing
    return checks


# ------------------------------------------------------------------ the split


def bench_rank_split(setup: Setup) -> dict:
    """Every rank count's split of train and val, planned by the data module itself."""
    from lightning_modules.data import ShardDataModule  # torch, Lightning: not for --help

    with tempfile.TemporaryDirectory(prefix="ladder-rank-split-") as folder:
        write_folder(Path(folder), setup)
        module = ShardDataModule(folder, batch_size=setup.batch_size,
                                 loader_workers=setup.workers, rank=0, world_size=1)  # fmt: skip
        ranks = {str(n): {"readers": n * setup.workers} for n in setup.ranks}
        for n in setup.ranks:
            for split in SPLITS:
                ranks[str(n)][split] = split_at(module, split, n, setup)
    return {
        "benchmark": "rank-split",
        "x": "ranks",
        "shards": setup.shards,
        "samples_per_shard": setup.per_shard,
        "samples": {split: n * setup.per_shard for split, n in setup.shards.items()},
        "workers_per_rank": setup.workers,
        "batch_size": setup.batch_size,
        "ranks": ranks,
    }


def write_folder(folder: Path, setup: Setup) -> None:
    """A complete manifest of the shards, and each shard as an empty file of the size its
    record says (0), so that the data module finds every shard present and whole."""
    shards = {
        split: [{"name": f"{split}-{i:06d}.tar", "count": setup.per_shard, "size": 0}
                for i in range(count)]
        for split, count in setup.shards.items()
    }  # fmt: skip
    for records in shards.values():
        for record in records:
            (folder / record["name"]).touch()
    counts = {split: sum(r["count"] for r in records) for split, records in shards.items()}
    manifest = {"format_version": 1, "complete": True, "classes": ["synthetic"],
                "shards": shards, "counts": counts}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))


def split_at(module, split: str, ranks: int, setup: Setup) -> dict:
    """One split at `ranks` ranks: every reader's plan, as each rank's loader makes it.

    Timed apart: a rank's setup (`shard_reader`: its shards found on disk, the plan; once
    per loader, in the main process) and a reader's `owned` (in its worker, every epoch).
    """
    import numpy as np

    module.world_size = ranks  # `placement()` takes these without a Trainer
    owners = np.zeros(setup.shards[split] * setup.per_shard, dtype=np.int32)
    per_rank, per_reader, batches, setups, reads = [], [], [], [], []
    for rank in range(ranks):
        module.rank = rank
        start = time.perf_counter()
        reader = module.shard_reader(split)
        rule = module.batches_per_epoch(split)
        setups.append(time.perf_counter() - start)
        counts = []
        for worker in range(setup.workers):
            start = time.perf_counter()
            owned = reader.owned(worker)
            reads.append(time.perf_counter() - start)
            counts.append(sum(len(positions) for _, positions in owned))
            for shard, positions in owned:  # all shards are present: index = manifest order
                np.add.at(owners, shard * setup.per_shard + np.asarray(positions), 1)
        per_rank.append(sum(counts))
        per_reader.append(counts)
        batches.append(yielded(rule, counts, split, setup.batch_size))
    plan = reader.split  # the same on every rank: it depends on the counts only
    by = {"ranks": plan.ranks_by_shard, "workers": plan.workers_by_shard}
    seconds = {
        "total": round(sum(setups) + sum(reads), 3),
        "rank_setup_max": round(max(setups), 5),
        "reader_max": round(max(reads), 5),
    }
    return (
        {"split": {level: "shard" if shard else "sample" for level, shard in by.items()}}
        | summary(split, per_rank, per_reader, batches, owners, rule, setup)
        | {"plan_seconds": seconds}
    )


def yielded(batches: int, counts: list[int], split: str, batch_size: int) -> int:
    """The batches a rank can yield of the `batches` the rule asks: train readers cycle
    through their samples, so any worker with samples fills them; val reads each once."""
    if split == "train":
        return batches if any(counts) else 0
    return min(batches, math.ceil(sum(counts) / batch_size))


def summary(split, per_rank, per_reader, batches, owners, rule, setup: Setup) -> dict:
    """What the rank count's plan of one split adds up to (see the module docstring)."""
    readers = [count for counts in per_reader for count in counts]
    equal = min(batches) == max(batches)
    result = {
        "batches_per_rank": spread(batches),
        "equal_batches": equal,
        "samples_per_rank": spread(per_rank) | {"mean": round(sum(per_rank) / len(per_rank), 1)},
        "samples_per_reader": spread(readers),
        "ranks_without_data": sum(1 for count in per_rank if not count),
        "readers_without_data": sum(1 for count in readers if not count),
        "samples_unowned": int((owners == 0).sum()),
        "samples_owned_twice": int((owners > 1).sum()),
    }
    if split == "train":
        result["epoch_passes"] = passes(per_rank, per_reader, rule, setup.batch_size)
    else:
        result["samples_dropped"] = sum(max(0, n - rule * setup.batch_size) for n in per_rank)
    one_owner = not result["samples_unowned"] and not result["samples_owned_twice"]
    result["ok"] = equal and min(batches) >= 1 and not result["ranks_without_data"] and one_owner
    return result | {"per_rank": {"samples": per_rank, "batches": batches}}


def passes(per_rank, per_reader, batches: int, batch_size: int) -> dict:
    """Train: the epoch's samples over the samples owned, per rank, and about so per
    reader (a rank's workers with samples share its batches evenly)."""
    ranks = [batches * batch_size / n for n in per_rank if n]
    readers = [
        batches / sum(1 for n in counts if n) * batch_size / count
        for counts in per_reader
        for count in counts
        if count
    ]
    return {"ranks": spread(ranks, 3), "readers": spread(readers, 3)}


def spread(values: list, digits: int | None = None) -> dict:
    if not values:
        return {"min": None, "max": None}
    if digits is None:
        return {"min": min(values), "max": max(values)}
    return {"min": round(min(values), digits), "max": round(max(values), digits)}


def compact(text: str) -> str:
    """Indented JSON with each innermost list or object on one line (a rank's figures)."""

    def one_line(match: re.Match) -> str:
        inner = re.sub(r"\s*\n\s*", " ", match.group(0)[1:-1]).strip()
        return f"{match.group(0)[0]}{inner}{match.group(0)[-1]}"

    return re.sub(r"[\[{][^\[\]{}]*[\]}]", one_line, text)


# ------------------------------------------------------------------ the chart


def plot(result: dict, path: Path) -> None:
    """Samples per rank (min and max) against ranks for each split, log-log, with the
    even share (samples / ranks) dashed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axes = figure.add_subplot()
    ranks = [int(n) for n in result["ranks"]]
    for split, color in zip(SPLITS, ("C0", "C1"), strict=True):
        figures = [result["ranks"][str(n)][split]["samples_per_rank"] for n in ranks]
        axes.plot(ranks, [f["max"] for f in figures], marker="o", color=color, label=f"{split} max")
        axes.plot(ranks, [f["min"] for f in figures], marker="v", color=color, label=f"{split} min")
        even = [result["samples"][split] / n for n in ranks]
        axes.plot(ranks, even, linestyle="--", color=color, alpha=0.5, label=f"{split} even")
    title = (f"ladder bench rank-split: {result['shards']['train']:,} train shards x "
             f"{result['samples_per_shard']:,}")  # fmt: skip
    axes.set(xscale="log", yscale="log", ylabel="samples per rank", title=title,
             xlabel=f"ranks ({result['workers_per_rank']} workers each)")  # fmt: skip
    axes.set_xticks(ranks, [str(n) for n in ranks])
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=120)
