"""`ladder export TRIAL|--best --out DIR [--register NAME]`: take a sweep's model home.

The trial's checkpoint of its best epoch (the one the leaderboard's top-1 comes from,
kept by Ray Train in the sweep's storage, `pipeline.models.winner`) becomes timm's layout,
`config.json` + `model.safetensors` (`lightning_modules.exported`): the weights
validation scored, the EMA's where the recipe kept one. `--register NAME` also logs it to
MLflow's Model Registry from the trial's run (`pipeline.models.registry`), with the alias
`champion` when the trial is its sweep's best. `ladder sweep --register-best NAME` does
the last two at the end of a sweep.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError
from lightning_modules.metric_names import VAL_ACC1, VAL_ACC5


def export_trial(client: Any, run: Any, storage: str, out: Path) -> dict[str, Any]:
    """Export trial `run`'s best checkpoint from `storage` into `out`; its config."""
    from lightning_modules.data import load_manifest
    from lightning_modules.exported import trained_classifier, write_export
    from pipeline.models.winner import best_checkpoint, load_checkpoint

    checkpoint, metrics = best_checkpoint(run, storage)
    with tempfile.TemporaryDirectory() as folder:
        classifier = trained_classifier(load_checkpoint(checkpoint, run, Path(folder)))
    try:
        labels = load_manifest(run.data.params["data"])["classes"]
    except (InputError, KeyError):  # the shards are not on this machine: classes unnamed
        labels = None
    experiment = client.get_experiment(run.info.experiment_id)
    source = {"sweep": run.data.tags["ladder.sweep"], "experiment": experiment.name,
              "trial": run.info.run_name, "trial_id": run.data.tags["ladder.trial_id"],
              "run_id": run.info.run_id, "epoch": int(metrics["epoch"]),
              "val_top1": metrics[VAL_ACC1], "val_top5": metrics.get(VAL_ACC5),
              "checkpoint": checkpoint.path, "data": run.data.params.get("data")}  # fmt: skip
    return write_export(classifier, out, labels, source)


def export(
    experiment_name: str | None,
    trial: str | None,
    storage: str,
    out: Path,
    register: str | None = None,
    scratch: bool = False,
) -> dict[str, Any]:
    """`trial` (None: the best) of the sweep's experiment, exported and maybe registered;
    `out` is a `scratch` folder when the files only pass through to the registry."""
    from pipeline.models.winner import best_trial, find_trial
    from pipeline.report.leaderboard import resolve_experiment
    from pipeline.tracking.schema import open_client, tracking_uri

    client = open_client(tracking_uri())
    experiment = resolve_experiment(client, experiment_name)
    run = find_trial(client, experiment, trial) if trial else best_trial(client, experiment)
    config = export_trial(client, run, storage, out)
    source = config["ladder"]["source"]
    print(
        f"ladder export: trial {source['trial']}, epoch {source['epoch']} "
        f"(val top-1 {100 * source['val_top1']:.2f}%, {config['ladder']['weights']} weights) "
        f"-> {'the registry' if scratch else f'{out}/config.json, model.safetensors'}; "
        f"{builder_line(config)}"
    )
    if register:
        register_export(client, run, experiment, out, register)
    return config


def builder_line(config: dict[str, Any]) -> str:
    """How the export loads: plain timm, or cnn-ladder's builder."""
    if config["ladder"]["builder"] == "timm":
        return f"plain timm builds it (timm.create_model({config['architecture']!r}, ...))"
    return f"{config['architecture']} needs cnn-ladder's builder (lightning_modules.exported)"


def register_export(client: Any, run: Any, experiment: Any, out: Path, name: str) -> None:
    """Register the export in `out` as a new version of `name`; champion if `run` is best."""
    from pipeline.models.registry import CHAMPION, register
    from pipeline.models.winner import best_trial
    from pipeline.tracking.schema import tracking_uri

    champion = best_trial(client, experiment).info.run_id == run.info.run_id
    model_version = register(tracking_uri(), out, run.info.run_id, name, champion)
    alias = f" @{CHAMPION}" if champion else f" (not {CHAMPION}: not the sweep's best)"
    print(f"ladder export: registered models:/{name}/{model_version}{alias}")


def register_best(experiment: str, storage: str, name: str) -> None:
    """`ladder sweep --register-best NAME`: the sweep's best trial as a new `champion`."""
    with tempfile.TemporaryDirectory() as out:
        export(experiment, None, storage, Path(out), name, scratch=True)
