"""`ladder gpu-check`: the GPU path, checked in one short run (`make gpu-check`, <= 8 min).

1. Model speed: `ladder bench model` for resnet50 and efficientnet_b0 at 224 px (bf16
   autocast, channels-last), torch.compile off and on; inference images/s beside timm's
   published figures (`gpu_references.json`) for the same GPU class where timm has one.
2. Feeding: a 2-epoch run of resnet50 as `ladder train` builds it (`build_run`, the
   Trainer settings, the shard loader) on synthetic photo shards, timing how long each
   step waits for its batch (`pipeline/bench/gpu_feeding.py`). The loader keeps up when the GPU
   is busy >= 90% of the step.

It needs torch, timm, pytorch-lightning and webdataset, not Ray or MLflow (so it runs on a
bare GPU image that has `lightning` beside `pytorch-lightning`: this project imports only
the latter). It prints JSON and writes it to `--out`; the exit status is 0 when the
feeding goal is met on a GPU.

Its sizes are a GPU's (resnet50 at batch 256 takes 20+ GB on a CPU), so on a machine
without a GPU it refuses at once, before importing torch; `--cpu` runs the same script
at toy size (LeNet-5, 32 px, batch 16) to check the path itself. `check_gpu(GpuCheck(...))`
is the command's call, and a notebook's.
"""

from __future__ import annotations

import glob
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightning_modules.errors import InputError

REFERENCES = Path(__file__).with_name("gpu_references.json")
# setting -> (on a GPU, with --cpu); the settings given win over both
SIZES: dict[str, tuple[Any, Any]] = {
    "arch": ("resnet50,efficientnet_b0", "lenet5"),
    "train_arch": ("resnet50", "lenet5"),
    "resolution": (224, 32),
    "batch_size": (256, 16),
    "steps": (20, 2),
    "photos": (8192, 320),
    "loader_workers": (max(1, (os.cpu_count() or 2) - 2), 1),
}
GPU_DEVICES = ("/dev/nvidia[0-9]*", "/dev/kfd")  # NVIDIA's device nodes, AMD ROCm's


@dataclass(frozen=True)
class GpuCheck:
    """What `ladder gpu-check` runs; a size left None is a GPU's or, with `cpu`, a CPU's
    (SIZES)."""

    cpu: bool = False
    arch: str | None = None  # speed: comma-separated models
    train_arch: str | None = None  # feeding: the model trained
    resolution: int | None = None
    batch_size: int | None = None
    steps: int | None = None  # speed: timed steps per mode
    photos: int | None = None  # feeding: synthetic photos
    loader_workers: int | None = None


@dataclass(frozen=True)
class GpuCheckResult:
    """The report to print, and the exit status's answer."""

    report: dict[str, Any]  # the JSON: speed, timm's figures, feeding
    passed: bool  # on a GPU, and the feeding goal met


def sized(request: GpuCheck) -> GpuCheck:
    """`request` with the sizes not given set for a GPU or, with `cpu`, for a CPU;
    InputError names a count below 1."""
    values = asdict(request)
    for key, defaults in SIZES.items():
        if values[key] is None:
            values[key] = defaults[request.cpu]
        elif isinstance(defaults[0], int) and values[key] < 1:
            raise InputError(f"--{key.replace('_', '-')} {values[key]}: expected >= 1")
    if values["photos"] < values["batch_size"]:
        raise InputError(f"--photos {values['photos']}: expected >= --batch-size")
    return GpuCheck(**values)


def gpu_present() -> bool:
    """Whether this machine has a GPU torch could use. On Linux a GPU driver's device
    nodes are there first, so their absence answers without importing torch."""
    if sys.platform.startswith("linux") and not any(map(glob.glob, GPU_DEVICES)):
        return False
    import torch

    return torch.cuda.is_available()


def check_gpu(request: GpuCheck) -> GpuCheckResult:
    """Model speed beside timm's figures, and how busy the loader keeps the GPU."""
    request = sized(request)
    if not request.cpu and not gpu_present():
        raise InputError(
            "no GPU on this machine; its sizes would take tens of GB on a CPU: run it on a GPU "
            "machine (`make gpu-check`), or add --cpu for a toy-size check of the path"
        )
    import torch

    from lightning_modules.specs import resolve_model
    from pipeline.bench.gpu_feeding import BUSY_GOAL, feeding_check

    for arch in {*request.arch.split(","), request.train_arch}:
        resolve_model(arch, request.resolution)  # names a bad model or size before any work
    device = "cuda" if torch.cuda.is_available() else "cpu"
    speed = [model_speed(request, compile_) for compile_ in (False, True)]
    feeding = feeding_check(request.train_arch, request.resolution, request.batch_size,
                            request.loader_workers, request.photos)  # fmt: skip
    report = {
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
        "torch": torch.__version__,
        "speed": speed,
        "published": published_for(speed[0]["device"]),
        "feeding": feeding,
    }
    passed = device == "cuda" and feeding["busy_fraction"] >= BUSY_GOAL
    return GpuCheckResult(report, passed)


def model_speed(request: GpuCheck, compile_: bool) -> dict[str, Any]:
    from pipeline.bench.model_speed import ModelBench, bench_model

    bench = ModelBench(archs=tuple(request.arch.split(",")), resolution=request.resolution,
                       batch_size=request.batch_size, steps=request.steps,
                       channels_last="auto", compile=compile_)  # fmt: skip
    return bench_model(bench)


def published_for(device: str) -> list[dict[str, Any]]:
    """timm's figures for this GPU's class; all of them, marked so, where it has none."""
    figures = json.loads(REFERENCES.read_text())["figures"]
    same = [figure for figure in figures if figure["match"].lower() in device.lower()]
    return same or [{**figure, "other_gpu": True} for figure in figures]
