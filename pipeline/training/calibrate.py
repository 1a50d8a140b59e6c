"""`ladder calibrate`: the pipeline's training beside a bare PyTorch loop, on the same shards.

An instrument is trusted once it reproduces what the plainest tool gets. This command
trains one architecture twice on the same shards, for the same epochs and batch:
  pipeline   what `ladder train` and every sweep trial run: the shard data module with
             the recipe's augmentation, the Lightning module, the recipe's optimizer and
             schedule (no MLflow, no checkpoints: nothing but the training);
  bare loop  the thirty lines a reader writes: every image decoded once, whole, at the
             run's resolution into one tensor (no augmentation, no loader), Adam at a
             constant lr 2e-3, cross-entropy, the same network from the zoo.
and reports each one's top-1 on the val split after every epoch. The goal: the pipeline
never ends below the bare loop. Then throughput: training images/s of Lightning's `fit`
against a bare loop over the very same loader, model, batch and optimizer, in the second
of two epochs each (workers started, caches warm), in three alternating rounds. The goal:
a median ratio >= 0.95 of the bare loop's (a tiny model like LeNet-5 exposes every per-step
overhead). JSON, like `ladder bench`.
"""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from PIL import Image
from timm.optim import create_optimizer_v2

from lightning_modules.metric_names import TRAIN_IMAGES_PER_SEC, VAL_ACC1
from lightning_modules.run import build_run, in_chans_of, trainer_settings
from lightning_modules.shard_reader import read_tar
from lightning_modules.specs import ModelSpec, Recipe
from lightning_modules.transforms import DecodeCrop

BARE_LR = 2e-3
GOALS = {"accuracy": "pipeline >= bare loop", "throughput_ratio": 0.95}
THROUGHPUT_ROUNDS = 3  # Lightning and bare loop, alternately: the median of their ratios


def calibrate(data: Path, manifest: dict, spec: ModelSpec, recipe: Recipe) -> dict:
    """Accuracy per epoch of the pipeline and of the bare loop, and their throughputs."""
    pipeline = pipeline_accuracy(data, manifest, spec, recipe)
    bare = bare_accuracy(data, manifest, spec, recipe)
    speed = throughput(data, manifest, spec, recipe)
    return {
        "data": str(data),
        "model": spec.name,
        "recipe": recipe.to_dict(),
        "pipeline": pipeline,
        "bare_loop": bare,
        "throughput": speed,
        "goals": {
            "accuracy": GOALS["accuracy"],
            "accuracy_met": pipeline["val_acc1"][-1] >= bare["val_acc1"][-1],
            "throughput_ratio": GOALS["throughput_ratio"],
            "throughput_met": speed["ratio"] >= GOALS["throughput_ratio"],
        },
    }


class _Accuracies(pl.Callback):
    def __init__(self) -> None:
        self.values: list[float] = []

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.values.append(round(float(trainer.callback_metrics[VAL_ACC1]), 4))


def pipeline_accuracy(data: Path, manifest: dict, spec: ModelSpec, recipe: Recipe) -> dict:
    """What `ladder train` reaches, epoch by epoch, and its wall time."""
    pl.seed_everything(recipe.seed, workers=True)
    classifier, module = build_run(data, manifest, spec, recipe)
    accuracies = _Accuracies()
    trainer = pl.Trainer(**trainer_settings(recipe), **_quiet(), callbacks=[accuracies])
    start = time.perf_counter()
    trainer.fit(classifier, datamodule=module)
    return {"val_acc1": accuracies.values, "seconds": round(time.perf_counter() - start, 1)}


def decoded(data: Path, manifest: dict, split: str, spec: ModelSpec, recipe: Recipe):
    """(images, labels) of a split: every image whole at the spec's resolution, normalised
    as the data module normalises (its mean and std), in one tensor."""
    mode = "L" if in_chans_of(manifest) == 1 else "RGB"
    transform = DecodeCrop(spec.resolution, mode, crop_pct=recipe.crop_pct)
    images, labels = [], []
    for record in manifest["shards"][split]:
        for sample in read_tar(str(data / record["name"])):
            encoded = sample["jpg"] if "jpg" in sample else sample["png"]
            images.append(transform(Image.open(io.BytesIO(encoded))))
            labels.append(int(sample["cls"]))
    _, module = build_run(data, manifest, spec, recipe)
    return module.normalize(torch.stack(images)), torch.tensor(labels)


def bare_accuracy(data: Path, manifest: dict, spec: ModelSpec, recipe: Recipe) -> dict:
    """The bare loop (see the module docstring), epoch by epoch, and its wall time."""
    torch.manual_seed(recipe.seed)
    train_x, train_y = decoded(data, manifest, "train", spec, recipe)
    val_x, val_y = decoded(data, manifest, "val", spec, recipe)
    model = spec.build(len(manifest["classes"]), in_chans_of(manifest))
    optimizer = torch.optim.Adam(model.parameters(), lr=BARE_LR)
    accuracies, start = [], time.perf_counter()
    for _ in range(recipe.epochs):
        model.train()
        for batch in torch.randperm(len(train_x)).split(recipe.batch_size):
            loss = torch.nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            hits = sum(int((model(x).argmax(1) == y).sum()) for x, y in
                       zip(val_x.split(512), val_y.split(512), strict=True))  # fmt: skip
        accuracies.append(round(hits / len(val_y), 4))
    return {"val_acc1": accuracies, "seconds": round(time.perf_counter() - start, 1)}


def throughput(
    data: Path, manifest: dict, spec: ModelSpec, recipe: Recipe, rounds: int = THROUGHPUT_ROUNDS
) -> dict:
    """Training images/s, second of two epochs: Lightning's fit vs a loop over its loader,
    in `rounds` rounds of one each, interleaved so that a busy spell of the machine hits
    both; the ratio is the median of the rounds' ratios."""
    pairs = [(lightning_speed(data, manifest, spec, recipe),
              bare_speed(data, manifest, spec, recipe)) for _ in range(rounds)]  # fmt: skip
    ratios = [lightning / bare for lightning, bare in pairs]
    return {"lightning_images_per_sec": [round(lightning) for lightning, _ in pairs],
            "bare_images_per_sec": [round(bare) for _, bare in pairs],
            "ratios": [round(ratio, 3) for ratio in ratios],
            "ratio": round(statistics.median(ratios), 3), "epoch": 2}  # fmt: skip


def lightning_speed(data: Path, manifest: dict, spec: ModelSpec, recipe: Recipe) -> float:
    """Images/s of `fit`'s second epoch, as the run logs it."""
    two = recipe.with_overrides({"epochs": 2})
    classifier, module = build_run(data, manifest, spec, two)
    trainer = pl.Trainer(**trainer_settings(two), **_quiet(), limit_val_batches=0)
    trainer.fit(classifier, datamodule=module)
    return float(trainer.callback_metrics[TRAIN_IMAGES_PER_SEC])


def bare_speed(data: Path, manifest: dict, spec: ModelSpec, recipe: Recipe) -> float:
    """Images/s of a bare loop's second epoch over the same loader, model and optimizer."""
    classifier, module = build_run(data, manifest, spec, recipe)
    optimizer = create_optimizer_v2(classifier.model, opt=recipe.optimizer, lr=recipe.lr,
                                    weight_decay=recipe.weight_decay)  # fmt: skip
    loader = module.train_dataloader()
    for _ in range(2):
        images, start = 0, time.perf_counter()
        for batch in loader:
            x, y = module.normalize(batch[0]), batch[1]
            loss = classifier.train_loss(classifier.model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            images += len(y)
        bare = images / (time.perf_counter() - start)
    module.teardown("fit")  # the loader's workers, as Lightning's fit did for the other
    return bare


def _quiet() -> dict:
    return {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
            "enable_model_summary": False, "num_sanity_val_steps": 0}  # fmt: skip
