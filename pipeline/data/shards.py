"""`ladder shards`: an ImageNet-layout or IDX folder (or a demo set) -> WebDataset shards.

Training reads thousands of small JPEGs per second; tar shards turn that into a few
sequential reads and let DDP ranks and DataLoader workers split the data by shard.

Layouts accepted under `--src`:
  train/<class>/<image>           ImageFolder / ILSVRC train
  val/<class>/<image>             ImageFolder val
  val/<image> + LOC_val_solution.csv   the official flat ILSVRC val; the CSV (columns
                                  ImageId,PredictionString, first token = synset) is looked
                                  for in SRC/ and SRC/val/
Either split may be absent. Classes are the sorted union of class names; index = position.
  the four IDX files of MNIST, Fashion-MNIST or KMNIST (`pipeline/data/idx.py`): the
                                  official test set becomes val; class names from the
                                  data set's table when the path names it, or `--classes`

Output in `--out`: `train-000000.tar`, ..., `val-000000.tar`, each sample being
`<key>.jpg` or `<key>.png` and `<key>.cls` (class index). Images are stored as they came
whenever possible, so that small images stay bit-exact: a JPEG keeps its bytes, a PNG too,
and another lossless format (BMP, TIFF, GIF, IDX pixels) becomes a PNG. Only an image whose
shorter side exceeds `--max-size` is resized, to exactly that, and stored as JPEG q90, as
ImageNet pipelines do; `image_formats` in the manifest counts what each split holds.
Samples are shuffled across shards with `--seed`. `manifest.json` records the classes,
counts, shards (count, formats, size, sha256), skipped files and the settings.
`_info.json` describes the same splits in timm's format, so that timm reads the folder as
`create_dataset("wds/NAME", root=OUT, split="train")` (timm's train.py: `--data-dir OUT
--dataset wds/NAME`; `validation` repeats `val`, under timm's default `--val-split`).
Plain `webdataset.WebDataset` reads the tars as they are (keys `jpg` or `png`, and `cls`).

Every image is fully decoded before it is accepted: unreadable or truncated files are
skipped and listed on stderr and in the manifest, never dropped silently.

Rerun rule: an empty or missing `--out` is written from scratch. A non-empty `--out` is
resumed when its manifest.json records the same format, source, max size, shard size,
seed and shard plan (the sorted file list shuffled into shards): shards found with the
name and size the manifest records are kept, the rest are rewritten, so a rerun costs what
changed (a stat per shard), not a read of every byte. `--verify` also compares each kept
shard's sha256 with the manifest's (reading them all) and rewrites those that differ:
bytes damaged in place, at the same size, which the size check cannot see. Anything else
non-empty is an error unless `--overwrite`, which deletes the shard files and manifest
there (nothing else). A resumed run keeps the skips of the shards it keeps; use
`--overwrite` after fixing files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import webdataset as wds
from PIL import UnidentifiedImageError
from rich.console import Console
from rich.progress import Progress

from lightning_modules.errors import InputError
from lightning_modules.manifest import FORMAT_VERSION, MANIFEST
from pipeline.data import DEFAULT_MAX_SIZE, DEFAULT_SHARD_SIZE, DEMOS, default_workers, idx
from pipeline.data.digits import digits_source
from pipeline.data.layouts import folder_samples
from pipeline.data.samples import Sample, ShardSource
from pipeline.data.storage import STORAGE, stored_image

TIMM_INFO = "_info.json"
# A rerun resumes only when all of these match the manifest found in --out.
IDENTITY = ("format_version", "storage", "source", "max_size", "shard_size", "seed",
            "plan_sha256")  # fmt: skip


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker process needs to write (or keep) one shard."""

    path: str
    samples: tuple[Sample, ...]
    max_size: int
    previous: dict | None  # this shard's manifest record from an earlier run, if any
    previous_skipped: tuple[dict, ...]


@dataclass(frozen=True)
class ShardRequest:
    """One conversion as values, so a notebook makes the same call as `ladder shards`: a
    folder (`src`) or a demo set (`demo`); each setting is its flag's (`--max-size`)."""

    out: Path
    src: Path | None = None
    demo: str | None = None
    classes: str | None = None  # an IDX source's class names
    max_size: int = DEFAULT_MAX_SIZE
    shard_size: int = DEFAULT_SHARD_SIZE
    workers: int = field(default_factory=default_workers)
    overwrite: bool = False
    verify: bool = False
    seed: int = 0


def make_shards(request: ShardRequest) -> dict:
    """Check the settings, read the source and write its shards; return the manifest."""
    for flag in ("max_size", "shard_size", "workers"):
        if getattr(request, flag) < 1:
            raise InputError(f"--{flag.replace('_', '-')} {getattr(request, flag)}: expected >= 1")
    source = read_source(request.src, request.demo, request.classes, request.seed)
    return write_shards(request.out, source, max_size=request.max_size,
                        shard_size=request.shard_size, seed=request.seed, workers=request.workers,
                        overwrite=request.overwrite, verify=request.verify)  # fmt: skip


def read_source(src: Path | None, demo: str | None, classes: str | None, seed: int) -> ShardSource:
    """The data set `demo` or `src` names; `classes` applies to IDX sources only."""
    if demo == "digits":
        return digits_source(seed)
    folder = idx.DEBIAN_FOLDERS.get(demo) if demo else src
    if folder is None:
        raise InputError(f"--src FOLDER or --demo {{{','.join(DEMOS)}}} is required")
    if demo and not idx.is_idx_folder(folder):
        raise InputError(idx.missing_files_line(demo, folder))
    if idx.is_idx_folder(folder):
        return idx.idx_source(folder, classes or demo)
    if classes:
        raise InputError(f"--classes: only for IDX sources; {folder} names its classes by folder")
    return folder_samples(folder)


# ---------------------------------------------------------------- writing


def plan_shards(
    samples: list[Sample], shard_size: int, seed: int, split: str
) -> list[list[Sample]]:
    """Shuffle the (sorted) samples with `seed` and cut them into shards of `shard_size`.

    Decided up front in the parent so the result does not depend on worker scheduling.
    """
    shuffled = list(samples)
    random.Random(f"{seed}:{split}").shuffle(shuffled)
    return [shuffled[i : i + shard_size] for i in range(0, len(shuffled), shard_size)]


def write_shard(task: ShardTask) -> tuple[dict, list[dict], bool]:
    """Write one shard in a worker process, or keep it if an earlier run wrote it intact.

    Returns its manifest record, the files it skipped, and whether it was kept.
    """
    path = Path(task.path)
    if task.previous is not None and _intact(path, task.previous):
        return task.previous, list(task.previous_skipped), True
    skipped, formats = [], {}
    partial = path.with_name(path.name + ".tmp")  # renamed when complete: no half shards
    with wds.TarWriter(str(partial), mtime=0) as tar:  # fixed mtime: same input, same sha256
        for sample in task.samples:
            try:
                extension, image = stored_image(sample.read(), task.max_size)
            except UnidentifiedImageError:
                reason = "not an image file PIL can identify"
            except Exception as error:  # PIL raises many types on bad files: skip, never crash
                reason = f"{type(error).__name__}: {error}"
            else:
                tar.write({"__key__": sample.key, extension: image, "cls": sample.label})
                formats[extension] = formats.get(extension, 0) + 1
                continue
            skipped.append({"path": sample.origin, "reason": reason, "shard": path.name})
    os.replace(partial, path)
    record = {
        "name": path.name,
        "count": sum(formats.values()),
        "formats": formats,
        "size": path.stat().st_size,
        "sha256": _sha256(path),
    }
    return record, skipped, False


def _intact(path: Path, record: dict) -> bool:
    """The shard as recorded: its size, then (a full read) its sha256."""
    return _same_size(path, record) and _sha256(path) == record["sha256"]


def _same_size(path: Path, record: dict) -> bool:
    return path.is_file() and path.stat().st_size == record["size"]


def _unchanged(task: ShardTask) -> bool:
    """An earlier run recorded this shard and a file of its name and size is there."""
    return task.previous is not None and _same_size(Path(task.path), task.previous)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_shards(
    out: Path,
    source: ShardSource,
    *,
    max_size: int,
    shard_size: int,
    seed: int,
    workers: int,
    overwrite: bool,
    verify: bool = False,
) -> dict:
    """Plan, write (in parallel) and record the shards of every split; return the manifest.

    Shards an earlier run finished are kept on their name and size, with no worker and no
    manifest write each, so that a rerun costs what changed; `verify` reads every kept
    shard's sha256 too (in the workers), for bytes damaged in place."""
    classes, listing_skipped = source.classes, source.listing_skipped
    plans = {split: plan_shards(s, shard_size, seed, split) for split, s in source.splits.items()}
    manifest = {
        "format_version": FORMAT_VERSION,
        "complete": False,
        "source": source.source,
        "dataset": source.dataset,  # a data set with published references, or None
        "split": source.split_info,
        "classes": classes,
        "channels": source.channels,  # 1 gray, 3 RGB: the models' default in_chans
        "storage": STORAGE,
        "max_size": max_size,
        "shard_size": shard_size,
        "seed": seed,
        "plan_sha256": _plan_sha256(classes, plans),
    }
    tasks = _tasks(out, plans, max_size, previous=_prepare_out(out, manifest, overwrite))
    unchanged = [task for task in tasks if _unchanged(task)]
    records = {task.previous["name"]: task.previous for task in unchanged}
    skipped = list(listing_skipped)
    if not verify:  # kept without a look inside: their skips are the earlier run's
        skipped += [entry for task in unchanged for entry in task.previous_skipped]
    pending = tasks if verify else [task for task in tasks if not _unchanged(task)]
    console = Console(stderr=True)
    for entry in listing_skipped:
        _report(console, entry)
    _write_pending(out, manifest, plans, pending, workers, console, records, skipped)
    manifest = _with_results(manifest, plans, records, skipped) | {"complete": True}
    _write_json(out / TIMM_INFO, timm_info(manifest, out.resolve().name))
    _write_json(out / MANIFEST, manifest)
    return manifest


def _write_pending(
    out: Path,
    manifest: dict,
    plans: dict[str, list[list[Sample]]],
    tasks: list[ShardTask],
    workers: int,
    console: Console,
    records: dict[str, dict],
    skipped: list[dict],
) -> None:
    """Run `tasks` into `records` and `skipped`, new skips on `console`; the manifest is
    written at the start and after each shard written, so a crash loses no finished shard,
    and not after each shard kept, which changed nothing."""
    _write_json(out / MANIFEST, _with_results(manifest, plans, records, skipped))  # resumable
    with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
        bar = progress.add_task("writing shards", total=len(tasks))
        for record, shard_skipped, kept in _run_all(tasks, workers):
            records[record["name"]] = record
            skipped += shard_skipped
            if not kept:
                for entry in shard_skipped:
                    _report(console, entry)
                _write_json(out / MANIFEST, _with_results(manifest, plans, records, skipped))
            progress.advance(bar)


def timm_info(manifest: dict, name: str) -> dict:
    """The splits as timm's webdataset reader expects them in `_info.json`: per split its
    name, sample count, and shard file names with their sample counts."""
    splits = {
        split: {
            "name": split,
            "num_samples": manifest["counts"][split],
            "filenames": [record["name"] for record in records],
            "shard_lengths": [record["count"] for record in records],
        }
        for split, records in manifest["shards"].items()
    }
    if "val" in splits:
        splits["validation"] = splits["val"] | {"name": "validation"}
    return {"name": name, "num_classes": len(manifest["classes"]), "splits": splits}


def _tasks(
    out: Path, plans: dict[str, list[list[Sample]]], max_size: int, previous: dict | None
) -> list[ShardTask]:
    """One task per planned shard, with what an earlier run (`previous`) recorded of it."""
    old_records = {
        r["name"]: r for records in (previous or {}).get("shards", {}).values() for r in records
    }
    old_skipped = (previous or {}).get("skipped", [])
    return [
        ShardTask(
            path=str(out / name),
            samples=tuple(shard),
            max_size=max_size,
            previous=old_records.get(name),
            previous_skipped=tuple(s for s in old_skipped if s["shard"] == name),
        )
        for split, shards in plans.items()
        for name, shard in zip(_shard_names(split, len(shards)), shards, strict=True)
    ]


def _report(console: Console, skip: dict) -> None:
    console.print(f"skipped {skip['path']}: {skip['reason']}", markup=False, soft_wrap=True)


def _run_all(tasks: list[ShardTask], workers: int) -> Iterable[tuple[dict, list[dict], bool]]:
    """`write_shard` over all tasks, in a process pool when more than one worker."""
    if workers == 1 or len(tasks) <= 1:
        yield from map(write_shard, tasks)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        for future in as_completed([pool.submit(write_shard, task) for task in tasks]):
            yield future.result()


def _shard_names(split: str, count: int) -> Iterator[str]:
    return (f"{split}-{i:06d}.tar" for i in range(count))


def _plan_sha256(classes: list[str], plans: dict[str, list[list[Sample]]]) -> str:
    """Fingerprint of what goes into which shard: a changed source gives a different plan."""
    plan = {split: [[(s.key, s.label) for s in shard] for shard in p] for split, p in plans.items()}
    return hashlib.sha256(json.dumps([classes, plan]).encode()).hexdigest()


def _with_results(
    manifest: dict, plans: dict[str, list], records: dict[str, dict], skipped: list[dict]
) -> dict:
    """The manifest with the shards written so far, their counts, and the skipped files."""
    shards = {
        split: [records[n] for n in _shard_names(split, len(p)) if n in records]
        for split, p in plans.items()
    }
    counts = {
        split: sum(r["count"] for r in split_records) for split, split_records in shards.items()
    }
    formats = {split: _formats(split_records) for split, split_records in shards.items()}
    skipped = sorted(skipped, key=lambda entry: entry["path"])
    return manifest | {"counts": counts, "image_formats": formats, "shards": shards,
                       "skipped": skipped}  # fmt: skip


def _formats(records: list[dict]) -> dict[str, int]:
    """How many images of each stored format (jpg, png) the shard records hold."""
    totals: dict[str, int] = {}
    for record in records:
        for extension, count in record.get("formats", {}).items():
            totals[extension] = totals.get(extension, 0) + count
    return totals


def _prepare_out(out: Path, manifest: dict, overwrite: bool) -> dict | None:
    """Make `out` ready; return the manifest of a resumable earlier run there, if any."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file, expected a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not any(out.iterdir()):
        return None
    if overwrite:
        for pattern in ("train-*.tar", "val-*.tar", "*.tar.tmp", MANIFEST, TIMM_INFO, "*.json.tmp"):
            for path in out.glob(pattern):
                path.unlink()
        return None
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            f"--out {out}: not empty and holds no {MANIFEST}; pass --overwrite or an empty folder"
        )
    try:
        previous = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(
            f"--out {out}: unreadable {MANIFEST} ({error}); pass --overwrite"
        ) from error
    differing = [k for k in IDENTITY if previous.get(k) != manifest[k]]
    if differing:
        raise InputError(
            f"--out {out}: holds shards of another source or settings "
            f"({', '.join(differing)} differ); pass --overwrite to replace them"
        )
    return previous


def _write_json(path: Path, data: dict) -> None:
    """Write atomically so a crash never leaves a half manifest."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(partial, path)
