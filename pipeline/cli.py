"""`ladder`: one entry point, one sub-command per pipeline module.

Each sub-command lives in the module that does the work. That module exposes
`configure(parser)` to declare its flags and `run(args) -> int` to do it; the CLI
only dispatches, and turns a `InputError` into one line on stderr and exit 2.
Modules are imported lazily so that `ladder --help` does not pay for torch or Ray.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from lightning_modules.errors import InputError

# sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "profile": ("pipeline.profile", "per-layer shapes, activation memory, params and MACs"),
    "shards": ("pipeline.shards", "convert an ImageNet-layout folder to WebDataset shards"),
    "train": ("pipeline.train", "train one architecture on a shard folder"),
    "recipes": ("pipeline.recipes", "the named training recipes and their sources"),
    "calibrate": ("pipeline.calibrate", "the pipeline's training beside a bare PyTorch loop"),
    "bench": ("pipeline.bench", "benchmarks (JSON): data loading, ..."),
    "gpu-check": ("pipeline.gpu_check", "model speed vs timm's figures, and whether a GPU is fed"),
    "sweep": ("pipeline.sweep", "run (or resume) a Ray Tune sweep over a search space"),
    "sync": ("pipeline.sync", "send what a sweep's tracking journal still holds to MLflow"),
    "baseline": (
        "pipeline.baseline",
        "a classic model (logistic regression, SVC) on raw pixels: the line to beat",
    ),
    "leaderboard": ("pipeline.leaderboard", "rank the trials of a sweep"),
    "chart": (
        "pipeline.charts",
        "the ImageNet challenge chart, accuracy vs MACs and vs speed, the scaling figures",
    ),
    "export": (
        "pipeline.export",
        "a trial's model as timm's config.json + model.safetensors; register it in MLflow",
    ),
    "evaluate": ("pipeline.evaluate", "score an exported or registered model on a shard split"),
    "ui": ("pipeline.ui", "serve the MLflow UI on 127.0.0.1"),
    "server": ("pipeline.server", "start a team MLflow server on PostgreSQL"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse's own usage errors (a missing flag, `--resolution abc`) as an InputError,
    so that they too are one line and exit 2 from `main`, not usage text and SystemExit.
    Sub-command parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        raise InputError(f"{message} (see `{self.prog} --help`)")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ladder", description="Climb the ImageNet CNN ladder: LeNet-5 to EfficientNet."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # only the chosen command's module is imported
            module = importlib.import_module(module_name)
            module.configure(sub_parser)
            sub_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = [a for a in argv if not a.startswith("-")][:1]  # [] for a bare `ladder`
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.run(args) or 0)
    except InputError as error:
        print(f"{' '.join(['ladder', *command])}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{' '.join(['ladder', *command])}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
