"""`ladder profile`: where a network's parameters, activation memory and MACs are.

The table reads like the classic VGG-16 lecture table: one row for the input and one
per convolution, pooling and fully connected layer, in execution order, with its
output shape (HxWxC), the number of values it outputs (activation memory per image),
its weights and, separately, its biases, and its MACs. Layers that only act
element-wise (ReLU, Tanh, dropout, BatchNorm) or that leave the shape unchanged (e.g.
VGG's 7x7 adaptive pool at 224 px) get no row, so VGG-16 at 224 gives exactly the
lecture's rows; their parameters (BatchNorm's) still count in the totals.
The counting itself is `lightning_modules.measure`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lightning_modules.measure import Profile, on_meta_device, profile_model
from lightning_modules.specs import ModelSpec


@dataclass(frozen=True)
class ModelProfile:
    """A model's spec and its counts, one value for the table, the JSON or a notebook."""

    spec: ModelSpec
    classes: int
    in_chans: int
    profile: Profile

    def to_dict(self) -> dict:
        """Plain values, for `--json`: the spec's fields, then the counts and the rows."""
        return {
            **asdict(self.spec),
            "in_chans": self.in_chans,
            "num_classes": self.classes,
            "params": self.profile.params,
            "activations": self.profile.activations,
            "macs": self.profile.macs,
            "layers": [asdict(row) for row in self.profile.layers],
        }

    def table(self) -> str:
        """The lecture-style table under a title naming the model and its input."""
        side = self.spec.resolution
        title = f"{self.spec.arch} at {side}x{side}x{self.in_chans}"
        return format_table(self.profile, title)


def profile_spec(spec: ModelSpec, classes: int = 1000, in_chans: int = 3) -> ModelProfile:
    """Count the network of `spec` (from `resolve_model`, which checks it) layer by layer,
    built on the meta device: shapes and counts only, no memory, no compute."""
    with on_meta_device():
        model = spec.build(classes, in_chans)
    return ModelProfile(spec, classes, in_chans, profile_model(model, spec.resolution, in_chans))


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
