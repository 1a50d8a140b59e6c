"""`ladder baseline`: a classic model on the raw pixels of the same shards, the line to beat.

A CNN that does not beat logistic regression or an RBF SVC on raw pixels has not earned
its MACs. The baseline reads the shard folder a sweep trains on, in the same train/val
split: every image as its pixels at the stored size (gray or RGB as the manifest says),
scaled to [0, 1]; images of differing sizes are resized to the smallest width and height
among them, and the command says so. It fits on the train split, or on a stratified
subsample of `--max-train` images when the split is larger, and scores top-1 on the
whole val split.

`--max-train` defaults to 10,000: an RBF SVC's fit grows with the square of the number
of samples or faster, and 10,000 images of 28x28 fit in about a minute or two on two
cores; logistic regression could take more, but one default keeps the two comparable.
The result goes to MLflow as a run tagged `ladder.role=baseline` (pipeline/report/baseline_runs.py)
in the experiment the leaderboard reads by default, the latest sweep's.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lightning_modules.errors import InputError
from lightning_modules.manifest import load_manifest
from lightning_modules.metric_names import VAL_ACC1
from pipeline.report.baseline_runs import ROLE
from pipeline.report.leaderboard import latest_sweep_experiment
from pipeline.report.references import dataset_name
from pipeline.tracking.schema import check_reachable, tracking_uri

MODELS = ("logreg", "svc")
DEFAULT_MAX_TRAIN = 10_000
MAX_TRAIN_LIMIT = 100_000  # an RBF SVC on more: hours of fitting, for a line to beat
NO_SWEEP_EXPERIMENT = "baselines"  # where a baseline goes before any sweep


def positive_int(text: str) -> int:
    """`--max-train` as a number of images, or an InputError naming the flag and the range."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"--max-train {text!r}: expected a whole number of images") from None
    if not 1 <= value <= MAX_TRAIN_LIMIT:
        raise InputError(
            f"--max-train {value}: expected 1 to {MAX_TRAIN_LIMIT:,} images (an SVC's fit "
            "grows with their square: more would take hours)"
        )
    return value


def samples(data: Path, manifest: dict, split: str) -> Iterator[dict]:
    """The split's tar samples in manifest order."""
    from lightning_modules.shard_reader import read_tar  # torch: not for `--help`

    for record in manifest["shards"][split]:
        yield from read_tar(str(data / record["name"]))


def decode(sample: dict, mode: str) -> Image.Image:
    """The sample's image, whichever extension it has (jpg, png, ...), in `mode`."""
    known = Image.registered_extensions()
    extension = next((key for key in sample if f".{key}" in known), None)
    if extension is None:
        raise InputError(f"sample {sample['__key__']}: no image file among {sorted(sample)}")
    return Image.open(io.BytesIO(sample[extension])).convert(mode)


def read_split(
    data: Path, manifest: dict, split: str, keep: set[int] | None = None
) -> tuple[list[Image.Image], np.ndarray]:
    """The split's images (only the indices in `keep`, when given) and their labels."""
    mode = "L" if manifest.get("channels") == 1 else "RGB"
    images, labels = [], []
    for index, sample in enumerate(samples(data, manifest, split)):
        if keep is None or index in keep:
            images.append(decode(sample, mode))
            labels.append(int(sample["cls"]))
    return images, np.array(labels)


def labels_of(data: Path, manifest: dict, split: str) -> np.ndarray:
    """Every label of the split, no image decoded: what a stratified subsample needs."""
    return np.array([int(sample["cls"]) for sample in samples(data, manifest, split)])


def subsample(labels: np.ndarray, max_train: int, seed: int) -> set[int] | None:
    """Indices of a stratified subsample of `max_train` train images; None keeps them all."""
    if len(labels) <= max_train:
        return None
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(
        np.arange(len(labels)), train_size=max_train, stratify=labels, random_state=seed
    )
    return set(kept.tolist())


def common_size(images: list[Image.Image]) -> tuple[int, int]:
    """The smallest width and height among the images: one size, so pixels line up."""
    return min(image.width for image in images), min(image.height for image in images)


def pixels(images: list[Image.Image], size: tuple[int, int]) -> np.ndarray:
    """One row per image: its pixels at `size`, scaled to [0, 1]."""
    rows = [np.asarray(image if image.size == size else image.resize(size)) for image in images]
    return np.stack(rows).reshape(len(rows), -1).astype(np.float32) / 255.0


def make_model(name: str, seed: int) -> object:
    """scikit-learn as is: an RBF SVC (the Fashion-MNIST paper's best classic model) or a
    multinomial logistic regression."""
    if name == "svc":
        from sklearn.svm import SVC

        return SVC(kernel="rbf", C=10, random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def experiment_name(client: object, name: str | None) -> str:
    """`--experiment`, else the experiment the leaderboard reads by default."""
    if name is not None:
        return name
    experiment = latest_sweep_experiment(client)
    return experiment.name if experiment is not None else NO_SWEEP_EXPERIMENT


@dataclass(frozen=True)
class BaselineRequest:
    """A baseline to fit: `model` one of `MODELS` on the shards at `data`, on at most
    `max_train` train images, logged to `experiment` (default: the latest sweep's)."""

    data: Path
    model: str = "svc"
    max_train: int = DEFAULT_MAX_TRAIN
    experiment: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class BaselineResult:
    top1: float
    n_train: int
    image_size: str  # WxH the images were fitted at
    seconds: float
    experiment: str  # where it was logged


def log_baseline(request: BaselineRequest, manifest: dict, result: dict) -> str:
    """One MLflow run tagged as a baseline; returns its experiment's name."""
    from mlflow import MlflowClient

    uri = tracking_uri()
    check_reachable(uri)
    client = MlflowClient(tracking_uri=uri)
    name = experiment_name(client, request.experiment)
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    tags = {"ladder.role": ROLE, "ladder.dataset": dataset_name(manifest) or "unknown"}
    run = client.create_run(experiment_id, run_name=f"baseline-{request.model}", tags=tags)
    params = {"model": request.model, "data": str(Path(request.data).resolve()),
              "seed": request.seed}  # fmt: skip
    params |= {key: result[key] for key in ("n_train", "image_size", "max_train")}
    for key, value in params.items():
        client.log_param(run.info.run_id, key, str(value))
    client.log_metric(run.info.run_id, VAL_ACC1, result["top1"], step=0)
    client.log_metric(run.info.run_id, "baseline/seconds", result["seconds"], step=0)
    client.set_terminated(run.info.run_id)
    return name


def fit_and_score(request: BaselineRequest, manifest: dict) -> dict:
    """Fit on the (subsampled) train split, score top-1 on all of val; the figures."""
    start = time.perf_counter()
    data = Path(request.data)
    keep = subsample(labels_of(data, manifest, "train"), request.max_train, request.seed)
    train_images, train_labels = read_split(data, manifest, "train", keep)
    val_images, val_labels = read_split(data, manifest, "val")
    size = common_size(train_images + val_images)
    if any(image.size != size for image in train_images + val_images):
        print(f"images differ in size: all resized to the smallest, {size[0]}x{size[1]}")
    model = make_model(request.model, request.seed)
    model.fit(pixels(train_images, size), train_labels)
    top1 = float((model.predict(pixels(val_images, size)) == val_labels).mean())
    return {
        "n_train": len(train_labels),
        "image_size": f"{size[0]}x{size[1]}",
        "max_train": request.max_train,
        "top1": top1,
        "seconds": time.perf_counter() - start,
    }


def fit_baseline(request: BaselineRequest) -> BaselineResult:
    """Fit and score the baseline, and log it to MLflow (the Python API of `ladder
    baseline`)."""
    if request.model not in MODELS:
        raise InputError(f"--model {request.model!r}: expected one of {', '.join(MODELS)}")
    manifest = load_manifest(request.data)
    if not manifest["counts"].get("train") or not manifest["counts"].get("val"):
        raise InputError(f"--data {request.data}: expected both a train and a val split")
    result = fit_and_score(request, manifest)
    experiment = log_baseline(request, manifest, result)
    return BaselineResult(
        result["top1"], result["n_train"], result["image_size"], result["seconds"], experiment
    )
