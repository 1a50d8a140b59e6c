"""ImageNet-layout folders as shard sources (`ladder shards --src`; see pipeline/data/shards.py).

  train/<class>/<image>           ImageFolder / ILSVRC train
  val/<class>/<image>             ImageFolder val
  val/<image> + LOC_val_solution.csv   the official flat ILSVRC val; the CSV (columns
                                  ImageId,PredictionString, first token = synset) is looked
                                  for in SRC/ and SRC/val/
Files that cannot be placed (outside a class folder, without a CSV row, duplicate keys)
are listed as skipped, never dropped silently.
"""

from __future__ import annotations

import csv
from pathlib import Path

from lightning_modules.errors import InputError
from pipeline.data.samples import Sample, ShardSource

VAL_SOLUTION = "LOC_val_solution.csv"


def folder_samples(src: Path) -> ShardSource:
    """Classes, samples per split and files skipped while listing an ImageNet-layout `src`."""
    if not src.is_dir():
        raise InputError(f"--src {src}: no such directory")
    if not any(src.iterdir()):
        raise InputError(f"--src {src}: directory is empty")
    files: dict[str, list[tuple[str, Path]]] = {}
    skipped: list[dict] = []
    if (src / "train").is_dir():
        if not any(p.is_dir() for p in _visible(src / "train")):
            raise InputError(f"--src {src}: train/ has no class folders (train/<class>/*.JPEG)")
        files["train"], skipped = _class_folder_files(src / "train")
    if (src / "val").is_dir():
        files["val"], val_skipped = _val_files(src)
        skipped += val_skipped
    if not files:
        raise InputError(
            f"--src {src}: unknown layout; expected train/<class>/*.JPEG and/or val/ "
            f"(class folders, or flat with {VAL_SOLUTION})"
        )
    if not any(files.values()):
        raise InputError(f"--src {src}: no image files under train/ or val/")
    classes = sorted({name for split_files in files.values() for name, _ in split_files})
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split, split_files in files.items():
        root = src / split
        samples = [
            Sample(_sample_key(path.relative_to(root)), index[name], str(path))
            for name, path in split_files
        ]
        splits[split], duplicates = _unique_keys(samples)
        skipped += duplicates
    info = {"method": "source folders train/ val/"}
    return ShardSource(classes, splits, str(src.resolve()), info, listing_skipped=skipped)


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _class_folder_files(split_dir: Path) -> tuple[list[tuple[str, Path]], list[dict]]:
    """(class name, file) for every file in the class sub-folders of `split_dir`, and the
    files lying outside any class folder (reported, not silently ignored)."""
    files, skipped = [], []
    for entry in _visible(split_dir):
        if entry.is_dir():
            files += [(entry.name, path) for path in _visible(entry) if path.is_file()]
        else:
            skipped.append({"path": str(entry), "reason": "not in a class folder", "shard": None})
    return files, skipped


def _val_files(src: Path) -> tuple[list[tuple[str, Path]], list[dict]]:
    """val/ as class folders, or flat with labels from LOC_val_solution.csv."""
    val = src / "val"
    if any(p.is_dir() for p in _visible(val)):
        return _class_folder_files(val)
    solution = next((p for p in (src / VAL_SOLUTION, val / VAL_SOLUTION) if p.is_file()), None)
    if solution is None:
        raise InputError(
            f"--src {src}: val/ has no class folders and no {VAL_SOLUTION} in {src} or {val}"
        )
    synsets = _read_val_solution(solution)
    files, skipped = [], []
    for path in _visible(val):
        if not path.is_file() or path == solution:
            continue
        synset = synsets.pop(path.name.split(".")[0], None)
        if synset is None:
            skipped.append({"path": str(path), "reason": f"no row in {solution}", "shard": None})
        else:
            files.append((synset, path))
    skipped += [
        {"path": str(val / image_id), "reason": f"listed in {solution} but missing", "shard": None}
        for image_id in sorted(synsets)
    ]
    return files, skipped


def _read_val_solution(path: Path) -> dict[str, str]:
    """ImageId -> synset (the first token of PredictionString)."""
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    if rows and not {"ImageId", "PredictionString"} <= rows[0].keys():
        raise InputError(f"{path}: expected columns ImageId,PredictionString")
    return {row["ImageId"]: row["PredictionString"].split()[0] for row in rows}


def _sample_key(relative: Path) -> str:
    """`n01440764/n01440764_10026.JPEG` -> `n01440764/n01440764_10026`.

    WebDataset splits a member name at the first dot of its basename, so keys have none.
    """
    return relative.with_suffix("").as_posix().replace(".", "_")


def _unique_keys(samples: list[Sample]) -> tuple[list[Sample], list[dict]]:
    """Keep the first of samples sharing a key (e.g. a.jpg and a.png); report the others."""
    seen: set[str] = set()
    kept, skipped = [], []
    for sample in samples:
        if sample.key in seen:
            reason = f"duplicate sample key {sample.key} (same name, other suffix)"
            skipped.append({"path": sample.origin, "reason": reason, "shard": None})
        else:
            seen.add(sample.key)
            kept.append(sample)
    return kept, skipped
