"""Published ImageNet numbers the charts compare a sweep with, loaded from references.json.

Each number carries its source. Accuracies and errors are percentages; MACs are counts of
multiply-adds per image, which is what torchvision's "GFLOPS" and EfficientNet's "FLOPs"
count, and what `model/macs` of a trial counts, so the axes agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


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
    """The package's references.json as typed records (read once)."""
    text = resources.files("pipeline").joinpath("references.json").read_text(encoding="utf-8")
    raw = json.loads(text)
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
