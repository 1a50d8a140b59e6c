"""A sweep as one file: `ladder sweep --config sweep.yaml`.

    name: width-vs-depth          # default: the file's name and the time
    data: data/digits             # shards (`ladder shards`); default: the digits demo
    space:                        # `tune_spaces.search_space`: models and recipe
      models:
        - arch: {choice: [efficientnet, mobilenetv2]}
          width: {uniform: [0.5, 1.5]}
          resolution: 32
          stem: cifar
      recipe: {from: demo, lr: {loguniform: [1e-4, 1e-2]}, epochs: 3}
    seeds: 2                      # each trial trained with recipe seeds s, s+1, ...
    search: {algorithm: random, samples: 12, seed: 0}   # grid | random | optuna
    scheduler: {name: asha, grace_period: 1, reduction_factor: 2}

and `resources`, `storage`, `tracking_uri`, `experiment`, `register_best`, `label`: the
flags of the same names. pydantic reads and checks it (it comes with MLflow), so a wrong
key, type or range is one line naming the file and the key. `--print-config` writes the
resolved file (every default filled in, paths absolute), which reads back to the same
file and the same plan; a sweep keeps it beside its plan, and `--config` of that file
with a new `--name` runs the same trials again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lightning_modules.errors import InputError
from lightning_modules.settings_files import parse_yaml, read_settings, to_yaml
from pipeline.sweep import DEFAULT_STORAGE
from tune_spaces import SearchSpace

MAX_SEEDS = 100  # a typo (--seeds 1000) must not plan a sweep a thousand times the size
MAX_SAMPLES = 100_000
OBJECTIVES = {"top1": ("val/acc1", "max"), "macs": ("model/macs", "min")}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Search(Settings):
    """How trials are chosen: Tune's grid and random variants, or an Optuna study."""

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    samples: int = Field(1, ge=1, le=MAX_SAMPLES)  # per grid point (Tune's num_samples)
    seed: int = Field(0, ge=0, lt=2**32)  # of the draws: the same seed, the same trials
    objectives: list[Literal["top1", "macs"]] = Field(["top1"], min_length=1, max_length=2)


class Scheduler(Settings):
    """When trials stop: at their last epoch (fifo), or early by ASHA's rungs."""

    name: Literal["fifo", "asha"] = "fifo"
    grace_period: int = Field(1, ge=1)  # ASHA: epochs before the first cut
    reduction_factor: float = Field(2.0, gt=1)  # ASHA: 1 in this many goes on at a rung
    max_epochs: int | None = Field(None, ge=1)  # ASHA's max_t (default: the longest trial)


class Resources(Settings):
    """What each trial holds, and how many run at once."""

    gpus_per_trial: float = Field(0.0, ge=0)
    workers_per_trial: int | None = Field(None, ge=1)  # DDP workers (default: 1 or a GPU each)
    cpus_per_worker: float = Field(1.0, gt=0)
    max_concurrent: int = Field(0, ge=0)  # 0: as many as fit
    max_failures: int = Field(2, ge=0)  # restarts of a trial from its checkpoint


class SweepConfig(Settings):
    """Everything a sweep is; the command's flags and `--set` override its fields."""

    name: str | None = None
    label: str = "sweep"  # the space's kind: a built-in's name picks its paper figure
    experiment: str | None = None  # MLflow experiment (default: the sweep's name)
    data: str | None = None
    space: SearchSpace
    seeds: int = Field(1, ge=1, le=MAX_SEEDS)
    search: Search = Search()
    scheduler: Scheduler = Scheduler()
    resources: Resources = Resources()
    storage: str = DEFAULT_STORAGE
    tracking_uri: str | None = None  # default: $MLFLOW_TRACKING_URI, else ./mlruns.db
    register_best: str | None = None  # MLflow: the best model as NAME@champion

    def to_dict(self) -> dict[str, Any]:
        """The file's settings in the file's order: what and on what, then how."""
        values = self.model_dump(mode="json", exclude={"space"})
        return {key: self.space.to_dict() if key == "space" else values[key]
                for key in type(self).model_fields}  # fmt: skip

    def to_yaml(self) -> str:
        return to_yaml(self.to_dict())


def read_config(path: str | Path, sets: list[str] = ()) -> SweepConfig:
    """The sweep file at `path` with the `--set KEY=VALUE` pairs applied; InputError
    naming the file and the key where it does not check."""
    values = read_settings(path)
    values.setdefault("label", Path(path).stem)
    return config_of(apply_sets(values, sets), str(path))


def config_of(
    values: dict[str, Any], source: str, origins: dict[str, str] | None = None
) -> SweepConfig:
    """`values` checked as a `SweepConfig`; the first problem as one InputError line,
    naming `source` and the key, or the flag a key came from (`origins`: key -> flag)."""
    try:
        return SweepConfig.model_validate(values)
    except ValidationError as error:
        problems = error.errors()  # a misspelt key first: it explains a missing one
        problem = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = f"unknown key; expected one of {', '.join(_keys_at(problem['loc']))}"
        flag = (origins or {}).get(key)
        where = f"{flag} {problem.get('input')!r}" if flag else f"{source}: {key}"
        raise InputError(f"{where}: {message}") from None


def _keys_at(loc: tuple[Any, ...]) -> list[str]:
    """The keys the schema has beside the unknown key at `loc`."""
    model: Any = SweepConfig
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        if field is None or not isinstance(field.annotation, type):
            break
        model = field.annotation
    return list(model.model_fields)


def apply_sets(values: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """`values` with each `--set KEY=VALUE` applied: KEY a dotted path (`search.samples`,
    `space.recipe.lr`), or a recipe setting alone (`lr`); VALUE read as YAML, so
    `--set 'space.recipe.lr={loguniform: [1e-4, 1e-2]}'` sets a distribution."""
    for pair in sets:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set {pair!r}: expected KEY=VALUE")
        set_key(values, setting_key(key), parse_yaml(text, f"--set {key}"))
    return values


def setting_key(key: str) -> str:
    """The dotted path of a `--set` key: a recipe setting alone is the space's recipe's."""
    from lightning_modules.specs import RECIPE_KEYS

    return f"space.recipe.{key}" if key in RECIPE_KEYS else key


def set_key(values: dict[str, Any], key: str, value: Any) -> None:
    """`values`' setting at the dotted `key` set to `value`, sections made as needed."""
    *sections, last = key.split(".")
    node = values
    for part in sections:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"--set {key}: {part} is not a section")
    node[last] = value


def objectives_of(search: Search) -> tuple[list[str], list[str]]:
    """(metrics, modes) of the search's objectives: top-1 maximised, MACs minimised."""
    pairs = [OBJECTIVES[name] for name in search.objectives]
    return [metric for metric, _ in pairs], [mode for _, mode in pairs]
