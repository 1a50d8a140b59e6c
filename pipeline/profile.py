"""`ladder profile`: where a network's parameters, activation memory and MACs are.

The table reads like the classic VGG-16 lecture table: one row for the input and one
per convolution, pooling and fully connected layer, in execution order, with its
output shape (HxWxC), the number of values it outputs (activation memory per image),
its weights and, separately, its biases, and its MACs. Layers that only act
element-wise (ReLU, Tanh, dropout, BatchNorm) or that leave the shape unchanged (e.g.
VGG's 7x7 adaptive pool at 224 px) get no row, so VGG-16 at 224 gives exactly the
lecture's rows; their parameters (BatchNorm's) still count in the totals.

MACs (multiply-accumulates) are FLOPs / 2 as counted by PyTorch's `FlopCounterMode`:
convolutions and matrix products only, which is how papers quote them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightning_modules.architectures import ModelInfo, build_model, list_models, model_info
from pipeline.errors import UsageError

_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_PROFILED = (nn.Conv2d, nn.Linear, *_POOLS)


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
    with _inference(model), counter:
        model(_probe(model, resolution, in_chans))
    return counter.get_total_flops() // 2


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
        with _inference(model), counter:
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    params = sum(parameter.numel() for parameter in model.parameters())
    return Profile(params, counter.get_total_flops() // 2, rows)


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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("arch", help=f"one of: {', '.join(list_models())}")
    parser.add_argument(
        "--resolution", type=int, help="input side in pixels (default: the model's native one)"
    )
    parser.add_argument("--width", type=float, help="width multiplier (efficientnet, mobilenetv2)")
    parser.add_argument("--depth", type=float, help="depth multiplier (efficientnet)")
    parser.add_argument("--classes", type=int, default=1000, help="output classes (default 1000)")
    parser.add_argument("--in-chans", type=int, default=3, help="input channels (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    info = _info_or_usage_error(args.arch)
    scaling = _scaling(args, info)
    resolution = info.native_resolution if args.resolution is None else args.resolution
    if resolution < info.min_resolution:
        raise UsageError(
            f"--resolution {resolution} is too small for {info.name}: its minimum is "
            f"{info.min_resolution}"
        )
    try:
        with torch.device("meta"):  # shapes and counts only: no memory, no compute
            model = build_model(info.name, args.classes, args.in_chans, **scaling)
    except ValueError as error:
        raise UsageError(str(error)) from error
    profile = profile_model(model, resolution, args.in_chans)
    if args.json:
        described = {
            "arch": info.name,
            "resolution": resolution,
            "in_chans": args.in_chans,
            "num_classes": args.classes,
            "width": scaling.get("width"),
            "depth": scaling.get("depth"),
            "params": profile.params,
            "activations": profile.activations,
            "macs": profile.macs,
            "layers": [asdict(row) for row in profile.layers],
        }
        print(json.dumps(described, indent=2))
    else:
        print(format_table(profile, f"{info.name} at {resolution}x{resolution}x{args.in_chans}"))
    return 0


def _info_or_usage_error(arch: str) -> ModelInfo:
    try:
        return model_info(arch)
    except ValueError as error:
        raise UsageError(str(error)) from error


def _scaling(args: argparse.Namespace, info: ModelInfo) -> dict[str, float]:
    """The multipliers to build with: given ones, 1.0 for accepted ones not given."""
    given = {
        key: getattr(args, key) for key in ("width", "depth") if getattr(args, key) is not None
    }
    for key in given.keys() - set(info.scaling_keys):
        accepted = ", ".join(f"--{k}" for k in info.scaling_keys) or "neither --width nor --depth"
        raise UsageError(f"--{key} does not apply to {info.name}; it accepts {accepted}")
    return {key: given.get(key, 1.0) for key in info.scaling_keys}


def format_table(profile: Profile, title: str) -> str:
    """Aligned plain text: readable in any terminal, log file or pasted into an issue."""
    header = ("layer", "kind", "output HxWxC", "activations", "weights", "biases", "MACs")
    lines = [
        (
            row.name,
            row.kind,
            "x".join(map(str, row.output_shape)),
            f"{row.activations:,}",
            f"{row.params:,}",
            f"{row.bias_params:,}",
            f"{row.macs:,}",
        )
        for row in profile.layers
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

    def aligned(cells: tuple[str, ...]) -> str:
        text_columns = 3  # left-aligned; the numbers are right-aligned
        return "  ".join(
            cell.ljust(width) if i < text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "-" * len(aligned(tuple("-" * width for width in widths)))
    totals = [
        ("params (all, biases and BatchNorm included)", profile.params, ""),
        (
            "activations (values per image, rows above)",
            profile.activations,
            f" x 4 bytes = {_human(profile.activations * 4)}B in float32",
        ),
        ("MACs (multiply-accumulates = FLOPs/2)", profile.macs, ""),
    ]
    label_width = max(len(label) for label, _, _ in totals)
    return "\n".join(
        [
            title,
            aligned(header),
            rule,
            *map(aligned, lines),
            rule,
            *(
                f"{label.ljust(label_width)}  {value:>16,}  ({_human(value)}){note}"
                for label, value, note in totals
            ),
        ]
    )


def _human(count: int) -> str:
    for divisor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if count >= divisor:
            return f"{count / divisor:.1f}{suffix}"
    return str(count)
