"""Sweeps: the plan, the trial, the estimate, the console and joining a Ray cluster."""

DEFAULT_STORAGE = "ray_results"  # `--storage`: where Ray keeps results and checkpoints
