"""Published results the charts compare a sweep with: one JSON file per data set here.

`imagenet.json` holds the ImageNet challenge and the landmark models (the challenge chart
and accuracy vs MACs); every other file (`fashion_mnist.json`, ...) is one data set's own
table of published results, each row mapped to the zoo's architecture where one matches,
for `ladder chart --figure reference`. Each number carries its source. Accuracies and
errors are percentages; MACs are counts of multiply-adds per image, which is what
torchvision's "GFLOPS" and EfficientNet's "FLOPs" count, and what `model/macs` of a trial
counts, so the axes agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lightning_modules.errors import InputError


@dataclass(frozen=True)
class ChallengeWinner:
    """The ILSVRC classification winner of one year."""

    year: int
    team: str
    entry: str
    top5_error: float
    source: str
    note: str


@dataclass(frozen=True)
class HumanLevel:
    top5_error: float
    source: str
    note: str


@dataclass(frozen=True)
class PublishedModel:
    """A landmark model's single-crop ImageNet-1k accuracy, cost and size.

    `key` is the zoo's architecture name, so a user's trial of that architecture can be
    put beside it.
    """

    key: str
    name: str
    family: str
    year: int
    top1: float
    top5: float | None
    macs: float
    params: float
    resolution: int
    source: str
    note: str

    @property
    def top1_error(self) -> float:
        return 100.0 - self.top1


@dataclass(frozen=True)
class Family:
    """A zoo name prefix (`resnet` covers resnet18..resnet152) and the year it appeared."""

    prefix: str
    year: int
    source: str


@dataclass(frozen=True)
class References:
    winners: tuple[ChallengeWinner, ...]
    human: HumanLevel
    models: tuple[PublishedModel, ...]
    families: tuple[Family, ...]

    def model(self, key: str) -> PublishedModel | None:
        return next((model for model in self.models if model.key == key), None)

    def year_of(self, arch: str) -> int | None:
        """The year an architecture was published: its own entry, else its family's."""
        model = self.model(arch)
        if model is not None:
            return model.year
        matches = [family for family in self.families if arch.startswith(family.prefix)]
        return max(matches, key=lambda family: len(family.prefix)).year if matches else None

    def by_family(self) -> dict[str, list[PublishedModel]]:
        """Published models grouped by family, each family ordered by cost (for lines)."""
        groups: dict[str, list[PublishedModel]] = {}
        for model in sorted(self.models, key=lambda model: model.macs):
            groups.setdefault(model.family, []).append(model)
        return groups


@lru_cache(maxsize=1)
def load_references() -> References:
    """The package's imagenet.json as typed records (read once)."""
    raw = json.loads(resources.files(__name__).joinpath("imagenet.json").read_text("utf-8"))
    models = tuple(
        PublishedModel(
            key=entry["key"],
            name=entry["name"],
            family=entry["family"],
            year=entry["year"],
            top1=entry["top1"],
            top5=entry["top5"],
            macs=round(entry["gmacs"] * 1e9),  # a count: no 4089000000.0000005
            params=round(entry["mparams"] * 1e6),
            resolution=entry["resolution"],
            source=entry["source"],
            note=entry["note"],
        )
        for entry in raw["models"]
    )
    return References(
        winners=tuple(ChallengeWinner(**entry) for entry in raw["ilsvrc_winners"]),
        human=HumanLevel(**raw["human"]),
        models=models,
        families=tuple(Family(**entry) for entry in raw["families"]),
    )


@dataclass(frozen=True)
class PublishedResult:
    """One row of a data set's published table. `arch` is the zoo's architecture it
    matches (None where the zoo has no such network); `kind` is "network", "classic"
    (no deep learning: the line a network must beat) or "human"."""

    name: str
    arch: str | None
    kind: str
    top1: float
    preprocessing: str
    source: str


@dataclass(frozen=True)
class DatasetReferences:
    dataset: str
    about: str
    source: str
    results: tuple[PublishedResult, ...]


def datasets_with_references() -> dict[str, str]:
    """Data set name -> its file, for every table here but ImageNet's challenge file."""
    files = sorted(f.name for f in resources.files(__name__).iterdir() if f.name.endswith(".json"))
    return {name.removesuffix(".json").replace("_", "-"): name for name in files}


@lru_cache(maxsize=8)
def load_dataset_references(dataset: str) -> DatasetReferences:
    """The published table of `dataset` (e.g. "fashion-mnist"); InputError naming the data
    sets that have one when it has none."""
    files = {name: file for name, file in datasets_with_references().items() if name != "imagenet"}
    if dataset not in files:
        raise InputError(
            f"data set {dataset!r} has no published references; "
            f"references exist for: {', '.join(files)}"
        )
    raw = json.loads(resources.files(__name__).joinpath(files[dataset]).read_text("utf-8"))
    return DatasetReferences(
        dataset=raw["dataset"],
        about=raw["about"],
        source=raw["source"],
        results=tuple(PublishedResult(**entry) for entry in raw["results"]),
    )


def dataset_name(manifest: dict) -> str | None:
    """Which data set a shard folder holds: its manifest's `dataset`, else what its
    `source` says (the digits demo's); None for a folder of the user's own."""
    if manifest.get("dataset"):
        return str(manifest["dataset"])
    return {"sklearn.datasets.load_digits": "digits"}.get(manifest.get("source", ""))
