"""MNIST-format data sets (MNIST, Fashion-MNIST, KMNIST): four IDX files in one folder.

The four files are `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each optionally gzipped (`.gz`),
as their authors distribute them. The official test set becomes the `val` split: the
published accuracies of these data sets are test accuracies, and they are what a run
is compared with. Images are grayscale and stay bit-exact (stored as PNG).

IDX (LeCun's format): a big-endian header of two zero bytes, a type byte (0x08: uint8)
and the number of dimensions, then one uint32 per dimension, then the values.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from lightning_modules.errors import InputError
from pipeline.data.samples import Sample, ShardSource, png_bytes

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "val": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Class names from each data set's own table (Fashion-MNIST's README, "Labels").
CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),  # fmt: skip
    "mnist": tuple(str(digit) for digit in range(10)),
    "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
}
# Where Debian's `dataset-fashion-mnist` package puts the files.
DEBIAN_FOLDERS = {"fashion-mnist": Path("/usr/share/datasets/fashion-mnist")}


def is_idx_folder(folder: Path) -> bool:
    """True when `folder` holds the training images in IDX format (gzipped or not)."""
    return _find(folder, FILES["train"][0]) is not None


def read_idx_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images, labels), "val": (...)}: uint8 (N, H, W) images, int64 labels.

    InputError names a missing file (all four are needed) or one that is not IDX."""
    splits = {}
    for split, (images_name, labels_name) in FILES.items():
        images, labels = (_read(_required(folder, name)) for name in (images_name, labels_name))
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise InputError(
                f"--src {folder}: {images_name} {images.shape} and {labels_name} "
                f"{labels.shape} do not pair up (expected N images of HxW and N labels)"
            )
        splits[split] = images, labels.astype(np.int64)
    return splits


def dataset_name(folder: Path) -> str | None:
    """The data set a folder holds, when its path names one of `CLASS_NAMES` (the folder
    Debian installs, `data/fashion` of Zalando's repository, `.../mnist`)."""
    path = str(folder.resolve()).lower()
    for word, name in (("fashion", "fashion-mnist"), ("kmnist", "kmnist"), ("mnist", "mnist")):
        if word in path:
            return name
    return None


def missing_files_line(name: str, folder: Path) -> str:
    """The one line telling a user which four files to put where."""
    wanted = ", ".join(f"{stem}.gz" for pair in FILES.values() for stem in pair)
    return (
        f"{name}: no IDX files in {folder}; `apt-get install dataset-{name}` puts them there "
        f"(Debian), or download {wanted} from the data set's authors into {folder}"
    )


def _find(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


def _required(folder: Path, stem: str) -> Path:
    path = _find(folder, stem)
    if path is None:
        raise InputError(f"--src {folder}: IDX folder without {stem} (or {stem}.gz)")
    return path


def _read(path: Path) -> np.ndarray:
    """The array an IDX file holds (uint8 data only, which every MNIST-like set uses)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            zero, kind, ndim = struct.unpack(">HBB", stream.read(4))
            if zero != 0 or kind != 0x08:
                raise InputError(f"{path}: not an IDX file of uint8 values")
            shape = struct.unpack(f">{ndim}I", stream.read(4 * ndim))
            values = np.frombuffer(stream.read(), dtype=np.uint8)
    except (OSError, struct.error, EOFError) as error:
        raise InputError(f"{path}: unreadable IDX file ({error})") from None
    if values.size != int(np.prod(shape)):
        raise InputError(f"{path}: holds {values.size} values, its header says {shape}")
    return values.reshape(shape)


def idx_source(folder: Path, classes: str | None) -> ShardSource:
    """The IDX files in `folder` as a shard source: grayscale PNGs, test set as val.

    `classes`: comma-separated names or a data set's name; default the data set the path
    names, else the label values. Keys are `<split>_<index in the file>`, so every sample
    can be traced to its record."""
    arrays = read_idx_folder(folder)
    dataset = dataset_name(folder)
    count = int(max(labels.max() for _, labels in arrays.values())) + 1
    names = class_names(classes or dataset, count)
    splits = {
        split: [
            Sample(f"{split}_{i:05d}", int(label), f"{folder} {split} image {i}", png_bytes(image))
            for i, (image, label) in enumerate(zip(images, labels, strict=True))
        ]
        for split, (images, labels) in arrays.items()
    }
    info = {"method": "the data set's own train and test files (test as val)",
            "image": "grayscale, stored as PNG (bit-exact)"}  # fmt: skip
    return ShardSource(names, splits, str(folder.resolve()), info, 1, dataset)


def class_names(given: str | None, count: int) -> list[str]:
    """Names for labels 0..count-1: a data set's table, a comma list, or the numbers."""
    if given is None:
        return [str(label) for label in range(count)]
    names = list(CLASS_NAMES.get(given, [n.strip() for n in given.split(",") if n.strip()]))
    if len(names) != count:
        raise InputError(
            f"--classes {given!r}: {len(names)} names for {count} classes (labels 0..{count - 1});"
            f" give {count} comma-separated names or one of {', '.join(CLASS_NAMES)}"
        )
    return names
