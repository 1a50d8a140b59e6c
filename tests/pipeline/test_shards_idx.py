"""`ladder shards` on MNIST-format data: four IDX files in, bit-exact PNG shards out."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from pipeline.data import idx

FASHION = idx.DEBIAN_FOLDERS["fashion-mnist"]


def write_idx(path: Path, array: np.ndarray, gzipped: bool = True) -> None:
    """`array` (uint8) as an IDX file, as LeCun's and Zalando's files are written."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gzipped:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def idx_folder(root: Path, train: int = 30, test: int = 10, gzipped: bool = True) -> dict:
    """A small MNIST-format folder of random 28x28 images with labels 0..2."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", train), ("val", test)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = np.arange(count) % 3
        image_name, label_name = idx.FILES[split]
        write_idx(root / image_name, images, gzipped)
        write_idx(root / label_name, labels, gzipped)
        arrays[split] = images, labels
    return arrays


def shard_members(out: Path, split: str) -> dict[str, dict[str, bytes]]:
    members: dict[str, dict[str, bytes]] = {}
    for tar_path in sorted(out.glob(f"{split}-*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar:
                key, extension = member.name.split(".", 1)
                members.setdefault(key, {})[extension] = tar.extractfile(member).read()
    return members


@pytest.mark.parametrize("gzipped", [True, False])
def test_idx_files_become_bit_exact_png_shards_with_the_test_set_as_val(tmp_path, gzipped):
    src, out = tmp_path / "mnist-like", tmp_path / "out"
    src.mkdir()
    arrays = idx_folder(src, gzipped=gzipped)
    argv = ["shards", "--src", str(src), "--out", str(out), "--classes", "cat,dog,bird"]
    assert main([*argv, "--shard-size", "8", "--workers", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == ["cat", "dog", "bird"] and manifest["channels"] == 1
    assert manifest["counts"] == {"train": 30, "val": 10}
    assert manifest["image_formats"] == {"train": {"png": 30}, "val": {"png": 10}}
    for split, (images, labels) in arrays.items():
        members = shard_members(out, split)
        assert len(members) == len(images)
        for key, member in members.items():
            index = int(key.split("_")[1])
            image = Image.open(io.BytesIO(member["png"]))
            assert image.mode == "L" and np.array_equal(np.asarray(image), images[index])
            assert int(member["cls"]) == labels[index]


def test_class_names_come_from_the_data_set_the_path_names(tmp_path):
    src, out = tmp_path / "fashion-mnist", tmp_path / "out"
    src.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        write_idx(src / idx.FILES[split][0], rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
        write_idx(src / idx.FILES[split][1], np.arange(10))
    assert main(["shards", "--src", str(src), "--out", str(out), "--workers", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"][0] == "T-shirt/top" and manifest["dataset"] == "fashion-mnist"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("a missing labels file", "t10k-labels-idx1-ubyte"),
        ("a wrong class count", "--classes 'a,b'"),
        ("a file that is not IDX", "not an IDX file"),
        ("classes for a folder tree", "--classes: only for IDX sources"),
    ],
)
def test_bad_idx_input_is_one_line(tmp_path, capsys, imagenet_tree, case, expected):
    src = tmp_path / "src"
    src.mkdir()
    idx_folder(src)
    argv = ["shards", "--src", str(src), "--out", str(tmp_path / "out")]
    if case == "a missing labels file":
        (src / "t10k-labels-idx1-ubyte.gz").unlink()
    elif case == "a wrong class count":
        argv += ["--classes", "a,b"]
    elif case == "a file that is not IDX":
        (src / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04garbage"))
    else:
        argv = [
            "shards",
            "--src",
            str(imagenet_tree),
            "--out",
            str(tmp_path / "o"),
            "--classes",
            "x",
        ]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and expected in error, error


@pytest.mark.skipif(not idx.is_idx_folder(FASHION), reason="apt-get install dataset-fashion-mnist")
@pytest.mark.slow
def test_fashion_mnist_demo_reads_the_debian_package(tmp_path):
    out = tmp_path / "fashion"
    assert main(["shards", "--demo", "fashion-mnist", "--out", str(out), "--workers", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 60000, "val": 10000}
    assert manifest["dataset"] == "fashion-mnist" and manifest["classes"][9] == "Ankle boot"
