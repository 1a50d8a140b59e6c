"""A sweep's plan: everything `ladder sweep` decided before Ray starts, and `--resume` reads.

It is saved as `<storage>/<name>/ladder_sweep.json` beside Tune's own state, so the file
and the code share one schema (`SweepPlan.to_json` / `from_json`), as timm's saved
`args.yaml` does for a training run. Storage may be a local path or a URI (s3://...):
pyarrow's filesystems read and write both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs

from lightning_modules.errors import InputError
from lightning_modules.settings_files import to_yaml
from lightning_modules.specs import TrialConfig
from pipeline.tracking.schema import seeded_name

if TYPE_CHECKING:
    from pipeline.sweep.config import SweepConfig

SWEEP_FILE = "ladder_sweep.json"
CONFIG_FILE = "ladder_sweep.yaml"  # the resolved sweep file: `--config` runs it again
TRAIN_FOLDER = "train"  # <storage>/<name>/train/: the Ray Train runs of DDP trials
CHECKPOINT_FILE = "model.ckpt"  # the Lightning checkpoint in each checkpoint_*/ folder


@dataclass(frozen=True)
class TrialResources:
    """How each trial runs: in its own Tune actor, or as a Ray Train job of DDP workers,
    and where the checkpoints go.

    `in_trial_actor`: a one-worker trial trains in the Tune trial actor itself, which
    Tune reuses for the next trial, so Lightning is imported once per actor rather than
    in a Ray Train controller and worker started for every trial (~20 s a trial on a
    2-core node, against ~1 s of LeNet-5's training). False for DDP trials, and in plans
    saved before it existed, whose trials resume where their checkpoints are.
    """

    workers: int = 1  # DDP processes per trial
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    train_storage: str = ""  # a shared path or URI every node can reach (Ray Train runs)
    max_failures: int = 2  # restarts from the latest checkpoint (worker group or trial)
    checkpoints_to_keep: int = 2
    in_trial_actor: bool = False

    def trials_that_fit(self, cluster: dict[str, float]) -> int:
        """How many trials the cluster's CPUs (and GPUs) hold at once; 0 if not one."""
        fits = cluster.get("CPU", 0) // (self.workers * self.cpus_per_worker)
        if self.gpus_per_worker:
            fits = min(fits, cluster.get("GPU", 0) // (self.workers * self.gpus_per_worker))
        return int(fits)


@dataclass(frozen=True)
class SweepPlan:
    """One sweep: its search space (already expanded), where it runs and where it logs."""

    name: str
    space: str
    overrides: dict[str, Any]  # what the user changed: the parent run's params
    experiment: str
    storage: str  # absolute path or URI; the sweep lives in <storage>/<name>
    resources: TrialResources
    scheduler: str
    max_concurrent: int  # 0: as many as fit
    param_space: dict[str, Any]  # {"trial": grid of drawn trials, "data": ...} (`search.py`)
    tracking_uri: str
    config: dict[str, Any] | None = None  # the resolved sweep file (None: a plan before it)
    max_epochs: int = 0  # of the longest trial (0: a plan before it, read off param_space)

    @property
    def folder(self) -> str:
        return f"{self.storage}/{self.name}"

    @property
    def epochs(self) -> int:
        return self.max_epochs or int(self.param_space["recipe"]["epochs"])

    @property
    def sweep_config(self) -> SweepConfig | None:
        """The sweep file it was planned from (None: a plan before sweep files)."""
        from pipeline.sweep.config import SweepConfig

        return None if self.config is None else SweepConfig.model_validate(self.config)

    @property
    def seeds(self) -> int:
        """How many times each trial is trained, with seeds one apart."""
        if self.config is not None:
            return int(self.config["seeds"])
        seed = self.param_space["recipe"].get("seed")  # a plan before sweep files: a grid
        return len(seed["grid_search"]) if isinstance(seed, dict) else 1

    @property
    def varied_recipe_keys(self) -> tuple[str, ...]:
        """Recipe settings that differ between its trials (besides the seed)."""
        if self.config is None:
            return ()
        recipe = self.config["space"]["recipe"]
        return tuple(key for key, value in recipe.items() if isinstance(value, dict))

    def trials(self) -> list[TrialConfig]:
        """Every trial the plan holds, in Tune's order (a proposing searcher's: none)."""
        space = self.param_space
        if "trial" in space:
            return [TrialConfig.of({"trial": t, "data": space["data"]})
                    for t in space["trial"]["grid_search"]]  # fmt: skip
        if "model" not in space:
            return []
        seed = space["recipe"]["seed"]  # a plan before sweep files: models x seeds
        seeds = seed["grid_search"] if isinstance(seed, dict) else [seed]
        return [TrialConfig.of({"model": model, "recipe": {**space["recipe"], "seed": s},
                                "data": space["data"]})
                for s in seeds for model in space["model"]["grid_search"]]  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SweepPlan:
        values = json.loads(text)
        return cls(**{**values, "resources": TrialResources(**values["resources"])})

    def save(self) -> None:
        """The plan, and beside it the resolved sweep file."""
        fs, path = pyarrow.fs.FileSystem.from_uri(self.storage)
        fs.create_dir(f"{path}/{self.name}", recursive=True)
        files = {SWEEP_FILE: self.to_json(), CONFIG_FILE: self.config and to_yaml(self.config)}
        for name, text in files.items():
            if text:
                with fs.open_output_stream(f"{path}/{self.name}/{name}") as out:
                    out.write(text.encode())


def trial_folder(trial_name: str, trial_id: str) -> str:
    """A trial's folder in the sweep's: Tune's results, and a one-worker trial's
    checkpoints (`checkpoint_*/model.ckpt`)."""
    return f"{trial_name}_{trial_id}"


def storage_root(storage: str) -> str:
    """Local paths absolute (trials run in other working directories); URIs as they are."""
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def sweep_exists(root: str, name: str) -> bool:
    fs, path = pyarrow.fs.FileSystem.from_uri(root)
    return fs.get_file_info(f"{path}/{name}/{SWEEP_FILE}").type != pyarrow.fs.FileType.NotFound


def load_plan(root: str, name: str) -> SweepPlan:
    """The saved plan of sweep `name` ("latest": the most recently started one in `root`)."""
    fs, path = pyarrow.fs.FileSystem.from_uri(root)
    if name == "latest":
        name = latest_sweep(fs, path, root)
    if not sweep_exists(root, name):
        raise InputError(f"--resume {name}: no such sweep in {root}")
    with fs.open_input_stream(f"{path}/{name}/{SWEEP_FILE}") as stream:
        return SweepPlan.from_json(stream.read().decode())


def latest_sweep(fs: pyarrow.fs.FileSystem, path: str, root: str) -> str:
    """The sweep whose plan file is newest (the file's time: S3 "folders" have none)."""
    found = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    folders = [info for info in found if info.type == pyarrow.fs.FileType.Directory]
    plans = [fs.get_file_info(f"{info.path}/{SWEEP_FILE}") for info in folders]
    plans = [plan for plan in plans if plan.type == pyarrow.fs.FileType.File]
    if not plans:
        raise InputError(f"--resume: no sweep in {root} to resume")
    return max(plans, key=lambda plan: plan.mtime_ns or 0).path.split("/")[-2]


def trial_name(plan: SweepPlan, config: dict[str, Any]) -> str:
    """The name of the trial Tune resolved `config` for (`trial_label`)."""
    return trial_label(plan, TrialConfig.of(config))


def point_name(plan: SweepPlan, trial: TrialConfig) -> str:
    """The point a trial trains: its model's name, and the recipe settings the sweep
    varies (`_lr0.0031`)."""
    varied = [(key, getattr(trial.recipe, key)) for key in plan.varied_recipe_keys]
    shown = [f"{key}{value:.3g}" if isinstance(value, float) else f"{key}{value}"
             for key, value in varied]  # fmt: skip
    return "_".join([trial.model.name, *shown])


def trial_label(plan: SweepPlan, trial: TrialConfig) -> str:
    """The point's name, with the trial's seed when the sweep trains several."""
    name = point_name(plan, trial)
    return name if plan.seeds == 1 else seeded_name(name, trial.seed)
