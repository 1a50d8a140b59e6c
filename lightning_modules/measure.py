"""Counting a network (parameters, activations and MACs, per layer and in total), and
measuring what it costs on a real device (images/s, latency, peak memory).

MACs (multiply-accumulates) are FLOPs / 2 as counted by PyTorch's `FlopCounterMode`:
convolutions and matrix products only, which is how papers quote them. Rows are the
lecture's VGG table: the input and each convolution, pooling and fully connected layer in
execution order; element-wise layers (ReLU, BatchNorm, dropout) and pools that leave the
shape unchanged get no row, but their parameters count in the totals. Everything works on
a model built on the "meta" device: shapes and counts only, no memory, nothing computed.

Measuring runs the model for real on the device its parameters are on, as training does:
bf16 autocast on CUDA, fp32 on CPU. A first step is never timed (allocator, cuDNN
autotuning, lazy initialisation). On a CPU computing on one thread the steps are timed
in that thread's CPU time, so that trials measured while others ran compare fairly.
`ladder bench model`, every sweep trial (after training) and a sweep's cost estimate
share these functions.
"""

from __future__ import annotations

import ctypes
import gc
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_PROFILED = (nn.Conv2d, nn.Linear, *_POOLS)
_NORMS = nn.modules.batchnorm._BatchNorm
_INITIALISERS = [name for name in dir(nn.init) if name.endswith("_") and not name.startswith("_")]


@dataclass(frozen=True)
class LayerRow:
    name: str  # module path in the model, or "input"
    output_shape: tuple[int, ...]  # (H, W, C) for feature maps, (features,) after flattening
    activations: int  # values in the output, per image
    params: int  # weights, biases excluded
    bias_params: int
    kind: str  # lecture-style label: conv3-64, maxpool2, fc-4096, ...
    macs: int


@dataclass(frozen=True)
class Profile:
    params: int  # every parameter of the model, biases and BatchNorm included
    macs: int
    layers: list[LayerRow]

    @property
    def activations(self) -> int:
        return sum(row.activations for row in self.layers)


def count_macs(model: nn.Module, resolution: int, in_chans: int = 3) -> int:
    """MACs of one forward pass of one `resolution`x`resolution` image."""
    counter = FlopCounterMode(display=False)
    with _inference(model), _norms_skipped(model), counter:
        model(_probe(model, resolution, in_chans))
    return counter.get_total_flops() // 2


def layer_macs(model: nn.Module, resolution: int, in_chans: int = 3) -> int:
    """`count_macs` for networks whose only multiply-accumulates are their `Conv2d` and
    `Linear` layers (the zoo's own: no attention or other matrix product in a forward),
    counted from each layer's output shape: the same number at a third of the cost,
    without `FlopCounterMode` intercepting every operation. For a sweep's hundred draws."""
    macs = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            macs += output[0].numel() * module.in_channels // module.groups * kernel
        else:
            macs += output[0].numel() * module.in_features

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [layer.register_forward_hook(count) for layer in layers]
    try:
        with _inference(model), _norms_skipped(model):
            model(_probe(model, resolution, in_chans))
    finally:
        for handle in handles:
            handle.remove()
    return macs


def profile_model(model: nn.Module, resolution: int, in_chans: int = 3) -> Profile:
    """Per-layer rows (see the module docstring for which layers) and the model's totals.

    Works on a model built on the "meta" device too: nothing is computed, only shapes
    and counts, which makes profiling EfficientNet-B7 at 600 px instant.
    """
    probe = _probe(model, resolution, in_chans)
    rows = [LayerRow("input", _hwc(probe), probe[0].numel(), 0, 0, "input", 0)]
    names = {
        module: name for name, module in model.named_modules() if isinstance(module, _PROFILED)
    }
    counter = FlopCounterMode(display=False)
    flops_before: dict[nn.Module, int] = {}

    def before(module: nn.Module, inputs: tuple) -> None:
        flops_before[module] = counter.get_total_flops()

    def after(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if isinstance(module, _POOLS) and output.shape == inputs[0].shape:
            return
        weights, biases = _weights_and_biases(module)
        macs = (counter.get_total_flops() - flops_before[module]) // 2
        shape, activations = _hwc(output), output[0].numel()
        rows.append(
            LayerRow(names[module], shape, activations, weights, biases, _kind(module), macs)
        )

    handles = [module.register_forward_pre_hook(before) for module in names]
    handles += [module.register_forward_hook(after) for module in names]
    try:
        with _inference(model), _norms_skipped(model), counter:
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    params = sum(parameter.numel() for parameter in model.parameters())
    return Profile(params, counter.get_total_flops() // 2, rows)


def seconds_per_step(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Mean seconds of `steps` calls of `step` after one untimed warm-up call, on the
    `step_clock` of the device."""
    clock = step_clock(device)
    step()
    synchronize(device)
    start = clock()
    for _ in range(steps):
        step()
    synchronize(device)
    return (clock() - start) / steps


def step_clock(device: torch.device) -> Callable[[], float]:
    """On a CPU where torch computes on one thread (a 1-CPU Train worker, the estimate's
    probe), that thread's CPU time: what the model costs a core, however many other
    processes share the machine at that moment. Elsewhere the wall clock."""
    if device.type == "cpu" and torch.get_num_threads() == 1:
        return time.thread_time
    return time.perf_counter


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def _autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda")


def train_images_per_sec(
    model: nn.Module, resolution: int, batch_size: int, in_chans: int = 3, steps: int = 2
) -> float:
    """Training images/s: forward, cross-entropy, backward and an SGD step on random
    images. The model's weights change: probe a copy, or a model about to be discarded."""
    device = device_of(model)
    images = torch.randn(batch_size, in_chans, resolution, resolution, device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        with _autocast(device):
            loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    was_training = model.training
    model.train()
    try:
        return batch_size / seconds_per_step(step, steps, device)
    finally:
        model.train(was_training)


def infer_images_per_sec(
    model: nn.Module, resolution: int, batch_size: int = 64, in_chans: int = 3, steps: int = 3
) -> float:
    """Inference images/s at `batch_size`: eval mode, no autograd."""
    device = device_of(model)
    images = torch.randn(batch_size, in_chans, resolution, resolution, device=device)

    def step() -> None:
        with _autocast(device):
            model(images)

    with _inference(model):
        return batch_size / seconds_per_step(step, steps, device)


def latency_ms(model: nn.Module, resolution: int, in_chans: int = 3, steps: int = 10) -> float:
    """Milliseconds to classify one image (batch 1, eval mode)."""
    return 1000 / infer_images_per_sec(model, resolution, 1, in_chans, steps)


class PeakMemory:
    """The memory a run needed, the same figure in any process whatever it did before.

    On a GPU: the CUDA allocator's peak allocation since `start()`. On a CPU: the peak
    resident memory of this process between `start()` and `bytes()`, minus its resident
    memory at `start()`. On Linux the kernel's peak (VmHWM) is reset to the current
    resident size at `start()` (writing "5" to /proc/self/clear_refs, which any process
    may do to its own file), so a process that was bigger before (a pytest session, a
    reused Ray worker) measures the run, not its history. Before the reset, memory the
    process freed but still holds (glibc keeps freed heap pages resident) goes back to the
    system (`malloc_trim`), so that the run pays for the pages it touches and does not
    reuse, for free, those an earlier run left behind. Where /proc is unavailable the
    growth of ru_maxrss is used, which reads 0 in a process that was bigger before.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.baseline = 0
        self.proc = False  # whether VmHWM was reset (Linux)

    def start(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        gc.collect()
        _trim_heap()
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.proc, self.baseline = True, _proc_status_bytes("VmRSS")
        except OSError:
            self.baseline = _peak_rss_bytes()
        return self

    def bytes(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device)
        peak = _proc_status_bytes("VmHWM") if self.proc else _peak_rss_bytes()
        return max(0, peak - self.baseline)


def _trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc's malloc_trim; elsewhere none)."""
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _proc_status_bytes(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS: resident now, VmHWM: its peak), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field}")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd for the duration, then the model's mode as it was."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


@contextmanager
def on_meta_device() -> Iterator[None]:
    """Networks built for their shapes only: on the meta device, with their weight
    initialisers skipped. A meta tensor has no values to initialise, yet PyTorch runs each
    initialiser through its Python decompositions, half of a meta build's time (an
    EfficientNet: 0.47 -> 0.11 s here). As Hugging Face transformers' `no_init_weights`
    does, `torch.nn.init`'s in-place functions return their tensor as it is meanwhile."""
    initialisers = {name: getattr(nn.init, name) for name in _INITIALISERS}
    for name in initialisers:
        setattr(nn.init, name, _unchanged)
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, function in initialisers.items():
            setattr(nn.init, name, function)


def _unchanged(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
    return tensor


@contextmanager
def _norms_skipped(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers pass their input through for the duration. A counting pass loses
    nothing by it: a BatchNorm (timm's fused with its activation too) has no MACs in
    `FlopCounterMode`'s count and keeps its input's shape. It gains most of its time:
    under the counter PyTorch runs eval-mode BatchNorm through its Python decompositions
    (counted on the meta device here: EfficientNet-B0 0.85 -> 0.16 s, ResNet-50 0.76 ->
    0.06 s, the same counts and rows)."""
    norms = [module for module in model.modules() if isinstance(module, _NORMS)]
    for norm in norms:
        norm.forward = _pass_through
    try:
        yield
    finally:
        for norm in norms:
            del norm.forward


def _pass_through(inputs: torch.Tensor) -> torch.Tensor:
    return inputs


def _probe(model: nn.Module, resolution: int, in_chans: int) -> torch.Tensor:
    device = next(model.parameters(), torch.empty(0)).device
    return torch.zeros(1, in_chans, resolution, resolution, device=device)


def _hwc(output: torch.Tensor) -> tuple[int, ...]:
    shape = tuple(output.shape[1:])
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


def _weights_and_biases(module: nn.Module) -> tuple[int, int]:
    sizes = {name: p.numel() for name, p in module.named_parameters(recurse=False)}
    biases = sizes.pop("bias", 0)
    return sum(sizes.values()), biases


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"fc-{module.out_features}"
    if isinstance(module, nn.Conv2d):
        kernel = _side(module.kernel_size)
        stride = _side(module.stride)
        depthwise = module.groups > 1 and module.groups == module.in_channels
        return (
            ("dw" if depthwise else "")
            + f"conv{kernel}-{module.out_channels}"
            + (f"/{stride}" if stride != "1" else "")
            + (f" g{module.groups}" if module.groups > 1 and not depthwise else "")
        )
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        kind = "avg" if isinstance(module, nn.AdaptiveAvgPool2d) else "max"
        return f"adaptive-{kind}pool"
    kind = "max" if isinstance(module, nn.MaxPool2d) else "avg"
    kernel, stride = _side(module.kernel_size), _side(module.stride)
    return f"{kind}pool{kernel}" + (f"/{stride}" if stride != kernel else "")


def _side(size: int | tuple[int, ...]) -> str:
    """'3' for 3 or (3, 3), '1x7' for (1, 7)."""
    sides = size if isinstance(size, tuple) else (size,)
    return str(sides[0]) if len(set(sides)) == 1 else "x".join(map(str, sides))
