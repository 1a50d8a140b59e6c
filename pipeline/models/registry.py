"""An exported model in MLflow's Model Registry, and back out of it.

`register` logs the exported network with `mlflow.pytorch.log_model` into the trial's own
run (so the run links to it and the UI's Models page lists it), with a signature and an
input example of the shape `config.json` asks for, and the two exported files as extra
files; it registers a new version under the name and, when the trial is its sweep's best,
points the alias `champion` at it. `fetch` brings `models:/NAME@ALIAS` (or `/VERSION`)
back as a folder `ladder evaluate` reads like any export.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError

CHAMPION = "champion"
MODELS_URI = "models:/"
# What unpickling the logged network needs; cnn-ladder-built ones also get its code.
REQUIREMENTS = ("torch", "torchvision", "timm", "safetensors")


def quiet_downloads() -> None:
    """No progress bars for the few small files a model has (a value the user set wins)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@contextmanager
def fluent_api_at(uri: str) -> Iterator[None]:
    """MLflow's fluent API (`start_run`, `log_model`) on `uri`, then the process as it was.
    `mlflow.set_tracking_uri` is global and also sets MLFLOW_TRACKING_URI: left set, it would
    follow whatever this process does next (a notebook, the next test) to this store."""
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)  # back to "unset": the environment decides again
        if before is not None:
            os.environ["MLFLOW_TRACKING_URI"] = before


def register(uri: str, folder: Path, run_id: str, name: str, champion: bool) -> Any:
    """Log and register the export in `folder` from run `run_id`; the new model version."""
    import mlflow
    import torch
    from mlflow.models import infer_signature

    import lightning_modules
    from lightning_modules.export_files import CONFIG_FILE, WEIGHTS_FILE
    from lightning_modules.exported import load_exported

    quiet_downloads()
    model, config = load_exported(folder)
    example = torch.zeros(1, *config["pretrained_cfg"]["input_size"])
    with torch.no_grad():
        signature = infer_signature(example.numpy(), model(example).numpy())
    own_code = config["ladder"]["builder"] != "timm"
    with fluent_api_at(uri), mlflow.start_run(run_id=run_id):
        logged = mlflow.pytorch.log_model(
            model,
            name="model",
            registered_model_name=name,
            signature=signature,
            input_example=example.numpy(),
            extra_files=[str(folder / CONFIG_FILE), str(folder / WEIGHTS_FILE)],
            pip_requirements=[f"{package}=={version(package)}" for package in REQUIREMENTS],
            code_paths=[str(Path(lightning_modules.__file__).parent)] if own_code else None,
            serialization_format="pickle",  # the module itself, not a torch.export trace
        )
    model_version = logged.registered_model_version
    if champion:
        mlflow.MlflowClient(uri).set_registered_model_alias(name, CHAMPION, model_version)
    return model_version


def fetch(model_uri: str, folder: Path) -> Path:
    """The exported files of a registered model version, downloaded into `folder`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from lightning_modules.export_files import CONFIG_FILE

    quiet_downloads()
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(folder))
    except MlflowException as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{model_uri}: {first}") from None
    found = sorted(Path(local).rglob(CONFIG_FILE))
    if not found:
        raise InputError(
            f"{model_uri}: not logged by `ladder export --register` (no {CONFIG_FILE})"
        )
    return found[0].parent


def model_folder(model: str, scratch: Path) -> Path:
    """An export folder for `model`: itself, or a registered model fetched into `scratch`."""
    if model.startswith(MODELS_URI):
        return fetch(model, scratch)
    return Path(model)
