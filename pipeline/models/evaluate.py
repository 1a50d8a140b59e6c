"""`ladder evaluate MODEL_DIR|models:/NAME@ALIAS --data SHARDS`: a model apart from its sweep.

As torchvision's and timm's `validate.py` do, it scores an exported model on a split with
the model's own eval transform, and nothing of the training run: the network comes from
`config.json` + `model.safetensors` alone (`lightning_modules.exported`), the pixels from
the shard loader's eval transform at the resolution, channels and crop that config.json
names, normalised with its mean/std: the transform validation used, so the top-1 is the
one the leaderboard shows for the exported epoch. Top-1 and top-5 are validation's own
metric (`lightning_modules.classifier.top_k_accuracy`: the share of images right).

It prints top-1, top-5, images/s and a per-class accuracy table, writes the confusion
matrix as a PNG, and logs all of it to MLflow as a run tagged `ladder.role=evaluation`,
nested under the trial run the model came from when the store has it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.metric_names import EVAL_ACC1, EVAL_ACC5, EVAL_IMAGES, EVAL_IMAGES_PER_SEC

ROLE = "evaluation"  # the MLflow run's ladder.role
FALLBACK_EXPERIMENT = "ladder-evaluate"  # for models whose sweep this store does not hold
PNG = "confusion_matrix.png"


@dataclass
class Scores:
    """What one pass over a split measured."""

    top1: float
    top5: float
    images: int
    seconds: float  # the whole pass, loader and model, as timm's validate.py times it
    device: str
    labels: Any  # numpy, per image
    predictions: Any


def check_classes(config: dict[str, Any], manifest: dict[str, Any], model: str) -> None:
    """InputError unless the model's outputs are the shards' classes, in their order."""
    classes, names = manifest["classes"], config.get("label_names")
    if config["num_classes"] != len(classes) or (names is not None and names != classes):
        theirs = f"{config['num_classes']} classes" + (
            f" ({', '.join(names[:5])}, ...)" if names else ""
        )
        raise InputError(
            f"{model} predicts {theirs}, but the shards hold {len(classes)} "
            f"({', '.join(classes[:5])}, ...): evaluate it on the data it was trained for"
        )


def score(model: Any, data: Any, split: str, device: Any) -> Scores:
    """One pass over `split`: top-1/top-5 as validation logs them, and the timings."""
    import torch

    from lightning_modules.classifier import top_k_accuracy

    classes = data.num_classes
    metrics = [top_k_accuracy(classes, k).to(device) for k in (1, min(5, classes))]
    labels, predictions = [], []
    model.to(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for images, targets in data.eval_dataloader(split):
            images, targets = images.to(device), targets.to(device)
            logits = model(data.normalize(images))
            for metric in metrics:
                metric.update(logits, targets)
            labels.append(targets.cpu())
            predictions.append(logits.argmax(1).cpu())
    data.teardown("validate")  # its loader's workers, as Lightning would after validating
    seconds = time.perf_counter() - start
    top1, top5 = (float(metric.compute()) for metric in metrics)
    labels, predictions = torch.cat(labels).numpy(), torch.cat(predictions).numpy()
    return Scores(top1, top5, len(labels), seconds, str(device), labels, predictions)


def per_class_table(scores: Scores, classes: list[str]) -> tuple[str, Any]:
    """The per-class accuracy table (text) and the confusion matrix it comes from."""
    import numpy as np
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(scores.labels, scores.predictions, labels=range(len(classes)))
    width = max(len("class"), *(len(name) for name in classes))
    lines = [f"{'class':{width}}  images  top-1 %  most often taken for"]
    for index, name in enumerate(classes):
        row = matrix[index]
        wrong = np.where(np.arange(len(classes)) == index, -1, row)
        confused = f"{classes[wrong.argmax()]} ({wrong.max()})" if wrong.max() > 0 else "-"
        accuracy = f"{100 * row[index] / row.sum():7.2f}" if row.sum() else "      -"
        lines.append(f"{name:{width}}  {row.sum():6d}  {accuracy}  {confused}")
    return "\n".join(lines), matrix


def draw_confusion(matrix: Any, classes: list[str], title: str, path: Path) -> None:
    """scikit-learn's confusion-matrix plot as a PNG (counts shown up to 30 classes)."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    side = min(4 + 0.45 * len(classes), 40)
    figure = Figure(figsize=(side, side), layout="constrained")
    display = ConfusionMatrixDisplay(matrix, display_labels=classes)
    display.plot(ax=figure.subplots(), cmap="Blues", colorbar=False,
                 include_values=len(classes) <= 30, xticks_rotation="vertical")  # fmt: skip
    display.ax_.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


def log_evaluation(model: str, config: dict, scores: Scores, files: list[Path], data: Path) -> str:
    """An MLflow run with the figures and the files, under the model's trial run when this
    store holds it (a new sqlite store is made where none is, as `ladder train` makes it);
    the run's id."""
    from mlflow import MlflowClient

    from pipeline.tracking.schema import check_reachable, tracking_uri

    check_reachable(tracking_uri())
    client = MlflowClient(tracking_uri())
    source = config.get("ladder", {}).get("source", {})
    experiment = client.get_experiment_by_name(source.get("experiment") or FALLBACK_EXPERIMENT)
    experiment_id = (experiment.experiment_id if experiment
                     else client.create_experiment(FALLBACK_EXPERIMENT))  # fmt: skip
    tags = {"ladder.role": ROLE, "ladder.model": model, "ladder.data": str(data.resolve())}
    parents = client.search_runs([experiment_id], f"attributes.run_id = '{source.get('run_id')}'")
    if parents:
        tags["mlflow.parentRunId"] = parents[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"evaluate {model}", tags=tags)
    for key, value in {EVAL_ACC1: scores.top1, EVAL_ACC5: scores.top5,
                       EVAL_IMAGES_PER_SEC: scores.images / scores.seconds,
                       EVAL_IMAGES: scores.images}.items():  # fmt: skip
        client.log_metric(run.info.run_id, key, value)
    for path in files:
        client.log_artifact(run.info.run_id, str(path))
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def report(model: str, config: dict, scores: Scores, out: Path, data: Path) -> None:
    """Print the figures and the table; write the PNG and the table; log them."""
    classes = config.get("label_names") or [str(i) for i in range(config["num_classes"])]
    table, matrix = per_class_table(scores, classes)
    source = config.get("ladder", {}).get("source", {})
    trained = (f" (trial {source['trial']}, epoch {source['epoch']}: val top-1 "
               f"{100 * source['val_top1']:.2f}%)" if "val_top1" in source else "")  # fmt: skip
    print(f"{model}: top-1 {100 * scores.top1:.2f}%{trained}, top-5 {100 * scores.top5:.2f}%, "
          f"{scores.images} images")  # fmt: skip
    print(f"images/s: {scores.images / scores.seconds:.1f} (loader and model, on {scores.device})")
    print(table)
    title = f"{config['architecture']}: top-1 {100 * scores.top1:.2f}%"
    draw_confusion(matrix, classes, title, out / PNG)
    (out / "per_class.txt").write_text(table + "\n")
    run_id = log_evaluation(model, config, scores, [out / PNG, out / "per_class.txt"], data)
    print(f"confusion matrix: {out / PNG}; MLflow run {run_id}")
    sys.stdout.flush()


def evaluate_model(
    model: str,
    data: Path,
    split: str = "val",
    batch_size: int = 64,
    workers: int = 2,
    out: Path = Path("evaluation"),
) -> Scores:
    """Score `model` (an export folder, or models:/NAME@ALIAS) on the `split` of the shards
    at `data`; print and log the figures, write the confusion matrix under `out` (the
    Python API of `ladder evaluate`)."""
    from lightning_modules.export_files import read_config
    from lightning_modules.manifest import load_manifest
    from pipeline.models.registry import MODELS_URI, model_folder

    if batch_size < 1 or workers < 0:
        raise InputError("--batch-size must be >= 1 and --workers >= 0")
    manifest = load_manifest(data)
    if not model.startswith(MODELS_URI):
        read_config(Path(model))  # a folder without its files: said before torch loads
    import torch

    from lightning_modules.data import ShardDataModule
    from lightning_modules.exported import eval_settings, load_exported

    with tempfile.TemporaryDirectory() as scratch:
        network, config = load_exported(model_folder(model, Path(scratch)))
    check_classes(config, manifest, model)
    shards = ShardDataModule(data, batch_size=batch_size, loader_workers=workers,
                             augment=False, **eval_settings(config))  # fmt: skip
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    scores = score(network, shards, split, device)
    report(model, config, scores, Path(out), Path(data))
    return scores
