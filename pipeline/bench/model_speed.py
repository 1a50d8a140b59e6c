"""`ladder bench model --arch A[,B...]`: each architecture's training and inference
throughput (images/s) at `--resolution` and `--batch-size`, its latency at batch 1, on
this machine's device (CUDA if present, with bf16 autocast as in training; else CPU
fp32), the MAC rate that implies, and peak memory: the CUDA allocator's peak on a GPU,
the process's peak RSS growth on a CPU. It is how a user sees what each rung of the
ladder costs in time, not only in MACs. The measuring functions are
`lightning_modules.measure`'s, which sweep trials and `ladder sweep`'s estimate share.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lightning_modules.architectures import build_model, list_models
from lightning_modules.errors import InputError
from lightning_modules.measure import (
    PeakMemory,
    count_macs,
    infer_images_per_sec,
    latency_ms,
    train_images_per_sec,
)
from lightning_modules.run import default_precision


@dataclass(frozen=True)
class ModelBench:
    """What to measure: the settings of `ladder bench model`, typed."""

    archs: tuple[str, ...]
    resolution: int = 224
    batch_size: int = 64
    steps: int = 5  # timed steps per mode
    channels_last: str = "auto"  # "auto" (on CUDA), "on" or "off"
    compile: bool = False


def archs_of(text: str) -> tuple[str, ...]:
    """The architectures a comma-separated `--arch` names, each known."""
    archs = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in archs if name not in list_models()]
    if unknown or not archs:
        raise InputError(f"--arch {text!r}: expected names from {', '.join(list_models())}")
    return archs


def bench_model(request: ModelBench) -> dict:
    """Train-step and inference images/s, MAC rate and peak memory of each architecture."""
    if request.steps < 1 or request.batch_size < 1:
        raise InputError("--steps and --batch-size: expected >= 1")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "benchmark": "model",
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "precision": default_precision(),
        "resolution": request.resolution,
        "batch_size": request.batch_size,
        "timed_steps": request.steps,
        "channels_last": channels_last(request.channels_last, device),
        "compile": request.compile,
        "models": [_bench_one(name, request, device) for name in request.archs],
    }


def channels_last(setting: str, device: torch.device) -> bool:
    """The recipe's rule: on CUDA unless "off", elsewhere only when "on"."""
    return setting == "on" or (setting == "auto" and device.type == "cuda")


class ChannelsLastInput(nn.Module):
    """The network fed channels-last images, as `ImageClassifier.forward` feeds it."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.contiguous(memory_format=torch.channels_last))


def _bench_one(arch: str, request: ModelBench, device: torch.device) -> dict:
    size, batch, steps = request.resolution, request.batch_size, request.steps
    model = build_model(arch).to(device)
    macs = count_macs(model, size)
    if channels_last(request.channels_last, device):
        model = ChannelsLastInput(model)
    if request.compile:  # the first (untimed) step of each measurement compiles
        model.compile()
    memory = PeakMemory(device).start()
    train_rate = train_images_per_sec(model, size, batch, steps=steps)
    infer_rate = infer_images_per_sec(model, size, batch, steps=steps)
    latency = latency_ms(model, size, steps=steps)
    return {
        "arch": arch,
        "params": sum(p.numel() for p in model.parameters()),
        "macs": macs,
        "train_images_per_s": round(train_rate, 2),
        "infer_images_per_s": round(infer_rate, 2),
        "latency_ms": round(latency, 2),  # batch 1
        "train_gmacs_per_s": round(3 * macs * train_rate / 1e9, 2),  # forward + 2x backward
        "peak_memory_mb": round(memory.bytes() / 2**20, 1),
    }
