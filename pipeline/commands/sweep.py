"""`ladder sweep`: run (or resume) a Ray Tune sweep: a sweep file, or a search space.

`--config FILE` reads a sweep file (`pipeline.sweep.config`); `--space NAME|FILE.py` builds
one from a built-in space or a Python `space()` function. Flags and `--set` then override
it, `--print-config` prints the result as a file, and the library runs it
(`pipeline.sweep.launch.run_sweep`, the same call a notebook makes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import tune_spaces
from lightning_modules.errors import InputError
from pipeline.sweep import DEFAULT_STORAGE

# flag -> the sweep file's key it overrides
FILE_KEYS = {
    "name": "name", "experiment": "experiment", "data": "data", "storage": "storage",
    "search": "search.algorithm", "samples": "search.samples", "scheduler": "scheduler.name",
    "gpus_per_trial": "resources.gpus_per_trial",
    "workers_per_trial": "resources.workers_per_trial",
    "cpus_per_worker": "resources.cpus_per_worker",
    "max_concurrent": "resources.max_concurrent", "max_failures": "resources.max_failures",
    "register_best": "register_best",
}  # fmt: skip


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="a sweep file (YAML or JSON)")
    parser.add_argument("--space", metavar="NAME|FILE.py",
                        help=f"search space: {', '.join(tune_spaces.SPACES)}, or a Python "
                        "file defining space(**settings)")  # fmt: skip
    parser.add_argument(
        "--data", help="shard folder (ladder shards), on every node (demo: data/digits)"
    )
    parser.add_argument("--name", help="sweep name (default: SPACE-YYYYmmdd-HHMMSS)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the sweep name)")
    parser.add_argument("--epochs", type=int, help="epochs per trial (the space's default)")
    parser.add_argument(
        "--recipe", metavar="NAME|FILE",
        help="train with this recipe (`ladder recipes`, or a file; default: the space's)",
    )  # fmt: skip
    parser.add_argument(
        "--seeds",
        metavar="K",
        help="train every model K times, recipe seeds 0..K-1 (from --set seed=S: S..S+K-1); "
        "the leaderboard gives mean ± std over them (default: 1)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a setting: a space's or recipe's (lr=0.01), or a file's key "
        "(search.samples=20, space.recipe.lr='{loguniform: [1e-4, 1e-2]}')",
    )  # fmt: skip
    parser.add_argument(
        "--from-sweep", metavar="NAME", help="efficientnet_family: use NAME's best point"
    )
    parser.add_argument("--search", choices=("grid", "random", "optuna"),
                        help="how trials are chosen (default: the file's, else grid)")  # fmt: skip
    parser.add_argument("--samples", type=int, help="random/optuna: draws per grid point")
    parser.add_argument("--print-config", action="store_true",
                        help="print the sweep as a file (for --config) and exit")  # fmt: skip
    add_running_flags(parser)


def add_running_flags(parser: argparse.ArgumentParser) -> None:
    """How the sweep runs (resources, scheduler, storage, output), apart from what it trains.
    They default to the sweep file's values (None: not given)."""
    parser.add_argument("--gpus-per-trial", type=float)
    parser.add_argument(
        "--workers-per-trial", type=int, help="DDP workers per trial (default: 1, or one per GPU)"
    )
    parser.add_argument("--cpus-per-worker", type=float)
    parser.add_argument("--max-concurrent", type=int, help="trials at once (default: what fits)")
    parser.add_argument("--scheduler", choices=("fifo", "asha"))
    parser.add_argument("--max-failures", type=int, help="restarts per trial (default: 2)")
    parser.add_argument(
        "--storage", help=f"results and checkpoints: a path or URI (default: {DEFAULT_STORAGE})"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="Ray's, Tune's and Lightning's own output too"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimate, run nothing"
    )
    parser.add_argument(
        "--budget-hours", type=float, metavar="H", help="refuse a plan estimated above H node-hours"
    )
    parser.add_argument("--register-best", metavar="NAME", help="MLflow: the best as NAME@champion")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="NAME",
        help="continue a sweep (default: the latest one in --storage)",
    )


def run(args: argparse.Namespace) -> int:
    if args.resume:
        return resume(args)
    config = sweep_config(args)
    if args.print_config:
        print(config.to_yaml(), end="")
        return 0
    if args.dry_run:  # no Ray, Tune or MLflow imported: the plan and its price
        from pipeline.sweep.planning import dry_run

        dry_run(config, args.budget_hours)
        return 0
    from pipeline.sweep import launch

    return launch.run_sweep(config, budget_hours=args.budget_hours, verbose_output=args.verbose)


def resume(args: argparse.Namespace) -> int:
    if args.dry_run or args.budget_hours is not None:
        raise InputError("--dry-run and --budget-hours price a new sweep: not with --resume")
    if args.seeds is not None:
        raise InputError("--seeds plans a new sweep: not with --resume (it keeps the sweep's)")
    if args.config or args.space or args.print_config:
        raise InputError(
            "--resume continues a sweep as planned: not with --config, --space or --print-config"
        )
    from pipeline.sweep import launch

    storage = args.storage or DEFAULT_STORAGE
    return launch.resume_sweep(args.resume, storage, args.verbose, args.register_best)


def sweep_config(args: argparse.Namespace) -> Any:
    """The `SweepConfig` the flags ask for: the file or the space, then the flags."""
    from pipeline.sweep.config import apply_sets, config_of, read_config, set_key, setting_key

    # a file takes every --set; a space's own settings (no dot) go to its space()
    dotted = [pair for pair in args.set if "." in pair.partition("=")[0] or args.config]
    plain = [pair for pair in args.set if pair not in dotted]
    if args.config and args.space:
        raise InputError("--config and --space: the file has its space; give one of them")
    if args.config and args.from_sweep:
        raise InputError("--from-sweep only goes with --space efficientnet_family")
    if args.config:
        source = args.config
        values = read_config(args.config).to_dict()
        if args.recipe:
            values["space"]["recipe"]["from"] = args.recipe
        if args.epochs is not None:
            values["space"]["recipe"]["epochs"] = args.epochs
    elif args.space:
        source = f"--space {args.space}"
        values = {"label": Path(args.space).stem, "space": space_of(args, plain).to_dict()}
    else:
        raise InputError(
            f"--config FILE or --space is required; spaces: {', '.join(tune_spaces.SPACES)}"
        )
    origins = {}  # the file's key -> the flag that set it, for errors
    for flag, key in FILE_KEYS.items():
        if getattr(args, flag) is not None:
            set_key(values, key, getattr(args, flag))
            origins[key] = f"--{flag.replace('_', '-')}"
    if args.seeds is not None:
        values["seeds"] = seeds_from(args.seeds)
    keys = [pair.partition("=")[0].strip() for pair in dotted]
    origins |= {setting_key(key): f"--set {key}" for key in keys}
    return config_of(apply_sets(values, dotted), source, origins)


def space_of(args: argparse.Namespace, sets: list[str]) -> Any:
    """The space `--space` names, with its settings from `--set`, `--recipe`, `--epochs`
    and `--from-sweep`'s point."""
    overrides: dict[str, Any] = {}
    for pair in sets:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {pair!r}: expected KEY=VALUE")
        overrides[key.strip()] = value.strip()
    if args.recipe is not None:
        overrides["recipe"] = args.recipe
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.from_sweep:
        if args.space != "efficientnet_family":
            raise InputError("--from-sweep only goes with --space efficientnet_family")
        from pipeline.sweep.planning import best_point

        overrides.update(best_point(args.from_sweep))
    try:
        return tune_spaces.load(args.space)(**overrides)
    except InputError as error:
        raise InputError(f"--space {args.space}: {error}") from None


def seeds_from(text: str) -> int:
    """`--seeds K`: a whole number of trainings per model, 1 to `MAX_SEEDS`."""
    from pipeline.sweep.config import MAX_SEEDS

    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_SEEDS:
        raise InputError(f"--seeds {text!r}: expected a whole number from 1 to {MAX_SEEDS}")
    return int(text)
