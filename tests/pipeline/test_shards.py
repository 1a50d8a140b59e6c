"""`ladder shards`: real JPEG trees in, real tars and a manifest out."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image
from sklearn.datasets import load_digits
from timm.data import create_dataset

from lightning_modules.errors import InputError
from pipeline.cli import main
from pipeline.data.digits import upscaled
from pipeline.data.shards import ShardRequest, make_shards

BAD_FILES = {
    "train/n01440764/n01440764_corrupt.JPEG",
    "val/n01443537/n01443537_truncated.JPEG",
}


def read_shards(folder: Path, pattern: str) -> dict[str, tuple[bytes, int]]:
    """key -> (image bytes, class index), read back with tarfile from the tars matching
    `pattern`; each sample holds exactly one image, `jpg` or `png`."""
    members: dict[str, dict[str, bytes]] = {}
    for tar_path in sorted(folder.glob(pattern)):
        with tarfile.open(tar_path) as tar:
            for member in tar:
                key, extension = member.name.split(".", 1)
                members.setdefault(key, {})[extension] = tar.extractfile(member).read()
    assert all(len(m.keys() & {"jpg", "png"}) == 1 for m in members.values())
    return {key: (m.get("jpg", m.get("png")), int(m["cls"])) for key, m in members.items()}


def source_images(tree: Path, split: str, classes: list[str]) -> dict[str, tuple[bytes, int]]:
    """What a split should hold: every good image of the tree, keyed `<class>/<stem>`."""
    return {
        f"{path.parent.name}/{path.stem}": (path.read_bytes(), classes.index(path.parent.name))
        for path in sorted((tree / split).glob("*/*.JPEG"))
        if path.relative_to(tree).as_posix() not in BAD_FILES
    }


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def shards(src: Path, out: Path, *flags: str) -> int:
    return main(["shards", "--src", str(src), "--out", str(out), "--workers", "1", *flags])


def test_tree_round_trips_minus_the_reported_bad_files(imagenet_tree, imagenet_shards):
    info = manifest(imagenet_shards)
    assert info["complete"] and info["classes"] == sorted(
        p.name for p in imagenet_tree.glob("train/*")
    )
    for split in ("train", "val"):
        assert read_shards(imagenet_shards, f"{split}-*.tar") == source_images(
            imagenet_tree, split, info["classes"]
        )
        assert info["counts"][split] == sum(r["count"] for r in info["shards"][split])
    assert info["counts"] == {"train": 60, "val": 18}
    assert len(info["shards"]["train"]) >= 4
    reported = {Path(s["path"]).relative_to(imagenet_tree).as_posix() for s in info["skipped"]}
    assert reported == BAD_FILES
    assert all(s["reason"] for s in info["skipped"])


def labels_by_key(tree: Path, split: str, classes: list[str]) -> dict[str, int]:
    return {key: label for key, (_, label) in source_images(tree, split, classes).items()}


@pytest.mark.parametrize(("split", "timm_split"), [("train", "train"), ("val", "validation")])
def test_timm_reads_the_shards_through_info_json(imagenet_tree, imagenet_shards, split, timm_split):
    classes = manifest(imagenet_shards)["classes"]
    dataset = create_dataset("wds/imagenet", root=str(imagenet_shards), split=timm_split)
    samples = list(dataset)
    assert len(dataset) == len(samples) == manifest(imagenet_shards)["counts"][split]
    expected = Counter(labels_by_key(imagenet_tree, split, classes).values())
    assert Counter(label for _, label in samples) == expected
    assert all(isinstance(image, Image.Image) and image.mode == "RGB" for image, _ in samples)


def test_plain_webdataset_reads_keys_images_and_labels(imagenet_tree, imagenet_shards):
    urls = sorted(str(path) for path in imagenet_shards.glob("train-*.tar"))
    dataset = (
        wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("__key__", "jpg", "cls")
    )
    samples = list(dataset)
    classes = manifest(imagenet_shards)["classes"]
    assert {key: label for key, _, label in samples} == labels_by_key(
        imagenet_tree, "train", classes
    )
    for key, image, _ in samples[:5]:
        original = Image.open(imagenet_tree / "train" / f"{key}.JPEG")
        assert image.size == original.size


def test_samples_are_shuffled_across_shards(imagenet_shards):
    first_shard = read_shards(imagenet_shards, "train-000000.tar")
    assert len({label for _, label in first_shard.values()}) > 1


def test_flat_val_with_loc_solution_csv(tmp_path, imagenet_tree):
    src = tmp_path / "src"
    (src / "val").mkdir(parents=True)
    expected = {}
    with (src / "LOC_val_solution.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ImageId", "PredictionString"])
        for i, path in enumerate(sorted(imagenet_tree.glob("val/*/*_[0-9].JPEG"))):
            image_id = f"ILSVRC2012_val_{i:08d}"
            shutil.copy(path, src / "val" / f"{image_id}.JPEG")
            writer.writerow([image_id, f"{path.parent.name} 1 2 30 40 {path.parent.name} 5 6 7 8"])
            expected[image_id] = (path.read_bytes(), path.parent.name)
        writer.writerow(["ILSVRC2012_val_99999999", "n01440764 1 2 3 4"])  # no such file
    shutil.copy(path, src / "val" / "unlisted.JPEG")  # no CSV row

    assert shards(src, tmp_path / "out") == 0
    info = manifest(tmp_path / "out")
    assert info["classes"] == sorted({synset for _, synset in expected.values()})
    assert read_shards(tmp_path / "out", "val-*.tar") == {
        key: (data, info["classes"].index(synset)) for key, (data, synset) in expected.items()
    }
    assert sorted(Path(s["path"]).name for s in info["skipped"]) == [
        "ILSVRC2012_val_99999999",
        "unlisted.JPEG",
    ]


def rewritten(out: Path, stats: dict) -> set[str]:
    """The shards whose file is not the one `stats` (name -> os.stat_result) saw."""
    return {
        name
        for name, before in stats.items()
        if ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns)
        != (before.st_ino, before.st_mtime_ns)
    }


def test_rerun_rewrites_only_a_missing_truncated_or_verified_damaged_shard(tmp_path, imagenet_tree):
    out = tmp_path / "out"
    assert shards(imagenet_tree, out, "--shard-size", "16") == 0
    first = manifest(out)
    stats = {p.name: p.stat() for p in out.glob("*.tar")}
    (out / "train-000001.tar").unlink()
    truncated = out / "train-000002.tar"
    truncated.write_bytes(truncated.read_bytes()[:-512])
    damaged = out / "val-000000.tar"
    flipped = bytes(byte ^ 0xFF for byte in damaged.read_bytes())  # same size, wrong bytes
    damaged.write_bytes(flipped)
    stats[damaged.name] = damaged.stat()

    assert shards(imagenet_tree, out, "--shard-size", "16") == 0  # name + size only
    assert rewritten(out, stats) == {"train-000001.tar", "train-000002.tar"}
    assert damaged.read_bytes() == flipped  # kept: its size is the manifest's
    assert manifest(out) == first  # rewritten shards are byte-identical (fixed seed and mtime)

    stats = {p.name: p.stat() for p in out.glob("*.tar")}
    assert shards(imagenet_tree, out, "--shard-size", "16", "--verify") == 0
    assert rewritten(out, stats) == {"val-000000.tar"}  # its sha256 differed
    assert manifest(out) == first
    info = json.loads((out / "_info.json").read_text())
    assert info["splits"]["train"]["filenames"] == [r["name"] for r in first["shards"]["train"]]
    assert info["splits"]["val"]["shard_lengths"] == [r["count"] for r in first["shards"]["val"]]
    assert info["splits"]["validation"]["num_samples"] == first["counts"]["val"] == 18


def test_max_size_shrinks_only_images_whose_shorter_side_exceeds_it(tmp_path, imagenet_tree):
    out = tmp_path / "out"
    assert shards(imagenet_tree, out, "--max-size", "48") == 0
    assert manifest(out)["max_size"] == 48
    originals = source_images(imagenet_tree, "train", manifest(out)["classes"])
    resized = 0
    for key, (data, _) in read_shards(out, "train-*.tar").items():
        original = Image.open(io.BytesIO(originals[key][0]))
        if min(original.size) <= 48:
            assert data == originals[key][0]
            continue
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and min(image.size) == 48
        assert image.width / image.height == pytest.approx(original.width / original.height, 0.03)
        resized += 1
    assert resized == 3 * (7 + 6)  # per class: seven 64x64 and six 300x200 of 20 images


def bad_input_cases(tmp_path: Path, imagenet_tree: Path) -> dict[str, tuple[Path, Path]]:
    (tmp_path / "empty").mkdir()
    (tmp_path / "images" / "a").mkdir(parents=True)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("not shards")
    return {
        "missing src": (tmp_path / "nope", tmp_path / "out1"),
        "empty src": (tmp_path / "empty", tmp_path / "out2"),
        "unknown layout": (tmp_path / "images", tmp_path / "out3"),
        "non-empty out": (imagenet_tree, tmp_path / "used"),
    }


@pytest.mark.parametrize("case", ["missing src", "empty src", "unknown layout", "non-empty out"])
def test_bad_input_exits_2_with_one_line(case, tmp_path, imagenet_tree, capsys):
    src, out = bad_input_cases(tmp_path, imagenet_tree)[case]
    assert shards(src, out) == 2
    error = capsys.readouterr().err
    assert error.startswith("ladder shards: error: --") and error.count("\n") == 1, error


def test_other_settings_need_overwrite(tmp_path, imagenet_tree, capsys):
    out = tmp_path / "out"
    assert shards(imagenet_tree, out) == 0
    assert shards(imagenet_tree, out, "--seed", "1") == 2
    assert "seed" in capsys.readouterr().err
    assert shards(imagenet_tree, out, "--seed", "1", "--overwrite") == 0
    assert manifest(out)["seed"] == 1


def test_a_notebook_makes_the_commands_shards_from_values(tmp_path, imagenet_tree, imagenet_shards):
    """The library takes a `ShardRequest`, not flags: the shards of `ladder shards`."""
    out = tmp_path / "out"
    made = make_shards(ShardRequest(out=out, src=imagenet_tree, shard_size=16, workers=1))
    assert made == manifest(out) == manifest(imagenet_shards)
    assert read_shards(out, "*.tar") == read_shards(imagenet_shards, "*.tar")
    with pytest.raises(InputError, match="--workers 0: expected >= 1"):
        make_shards(ShardRequest(out=out, src=imagenet_tree, workers=0))


def test_digits_demo_is_a_stratified_split_of_32px_grayscale_pngs_bit_exact(digits_shards):
    info = manifest(digits_shards)
    assert info["source"] == "sklearn.datasets.load_digits"
    assert info["split"]["val_fraction"] == 0.2 and info["split"]["seed"] == 0
    assert info["classes"] == [str(d) for d in range(10)]
    assert info["counts"] == {"train": 1437, "val": 360}
    assert info["image_formats"] == {"train": {"png": 1437}, "val": {"png": 360}}
    digits = load_digits()
    labels = {}
    for split in ("train", "val"):
        samples = read_shards(digits_shards, f"{split}-*.tar")
        labels[split] = Counter(label for _, label in samples.values())
        for key, (data, label) in list(samples.items())[:50]:
            image = Image.open(io.BytesIO(data))
            assert (image.format, image.mode, image.size) == ("PNG", "L", (32, 32))
            index = int(key.removeprefix("digit_"))
            assert label == digits.target[index]
            assert np.array_equal(np.asarray(image), upscaled(digits.images[index]))
    for digit in range(10):
        total = labels["train"][digit] + labels["val"][digit]
        assert abs(labels["val"][digit] - 0.2 * total) <= 1


def test_lossless_files_stay_bit_exact_and_the_manifest_counts_formats(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    pixels = {}
    for i, fmt in enumerate(("PNG", "BMP", "TIFF", "PNG")):
        (src / "train" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        pixels[f"c{i % 2}/img{i}"] = rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)
        path = src / "train" / f"c{i % 2}" / f"img{i}.{fmt.lower()}"
        Image.fromarray(pixels[f"c{i % 2}/img{i}"]).save(path, fmt)
    out = tmp_path / "out"
    assert shards(src, out) == 0
    stored = read_shards(out, "train-*.tar")
    for key, (data, _) in stored.items():
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and np.array_equal(np.asarray(image), pixels[key])
    assert manifest(out)["image_formats"] == {"train": {"png": 4}}
