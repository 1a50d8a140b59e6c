"""A sweep's price before it runs: `ladder sweep --dry-run`, `--budget-hours`, and its ETA.

Each distinct model of the plan is built from its `ModelSpec` in this process and probed
for a few steps (`lightning_modules.measure`) at the recipe's batch size, or a smaller
one where that would not fit in half the free memory: training and evaluation images/s
on this machine, as one Train worker gets it (on a CPU, the threads its
`--cpus-per-worker` leave beside its loader workers, `training_threads`; with one, timed
in CPU time: the price of a core, not of this moment's load).
The shards' manifest gives the images per epoch, so

    epoch  = train images / (workers x train rate) + val images / (workers x eval rate)
             + EPOCH_OVERHEAD_S
    trial  = trial start-up + expected epochs x epoch
    wall   = SWEEP_STARTUP_S + the trials laid greedily, in grid order, on the slots,
             each slot starting with its actor's start (ACTOR_START_S, one-worker trials)
    price  = the sum of trial times x each trial's share of a node, in node-hours

where the slots are the trials that run at once (`--max-concurrent`, the cluster's fit,
or for a dry run this machine's CPUs / (cpus-per-worker x workers)), and the expected
epochs count ASHA's rungs under `--scheduler asha`. The overheads are what a trial and a
sweep cost beside the images on a small CPU box (a Tune actor reused across trials, or for
a DDP trial a Ray Train worker group started for it; Lightning, loader processes),
measured on the digits demo (`ladder bench sweep`); on GPUs they are a smaller share.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch

from lightning_modules.errors import InputError
from lightning_modules.macs import count_all, macs_of
from lightning_modules.manifest import load_manifest
from lightning_modules.measure import infer_images_per_sec, train_images_per_sec
from lightning_modules.metric_names import MODEL_ACTIVATIONS, MODEL_MACS
from lightning_modules.run import in_chans_of, training_threads
from lightning_modules.specs import ModelSpec, Recipe, TrialConfig
from pipeline.report.leaderboard import duration
from pipeline.sweep.config import Scheduler
from pipeline.sweep.plan import SweepPlan
from pipeline.sweep.search import drawn_trials

PROBE_STEPS = 2
PROBE_STEP_MACS = 2 * 10**9  # a CPU probe's batch at most: ~0.5 s a training step here
# (B0 at 224 px probes 5 images; the digits' models their recipe's batch, or half of it)
PROBED_MODELS = 3  # distinct models probed; the rest are priced by their counted MACs
MODELS_SHOWN = 12  # lines of the estimate's table
SLOW_PROBE_MACS = 10**9  # a probe whose batch costs more takes seconds: a progress line
BYTES_PER_ACTIVATION = 16  # fp32, saved for backward with the norm and activation outputs
SWEEP_STARTUP_S = 30.0  # Ray, the driver's imports, MLflow, and the leaderboard + charts
TRIAL_STARTUP_S = 1.0  # a one-worker trial: the model's build, its cost measured, loaders
ACTOR_START_S = 7.0  # the first one-worker trial of each slot: its Tune actor's imports
DDP_TRIAL_STARTUP_S = 20.0  # a DDP trial's Ray Train controller and workers, Lightning
EPOCH_OVERHEAD_S = 1.0  # loader processes started twice an epoch, checkpoint, report


@dataclass(frozen=True)
class ModelCost:
    """One distinct model's probed speed and its time per epoch and per trial."""

    name: str
    train_images_per_sec: float
    eval_images_per_sec: float
    epoch_s: float
    trial_s: float
    batch: int  # probed at: the recipe's, unless it would not fit in memory
    startup_s: float = TRIAL_STARTUP_S  # of its trials, before the first epoch
    probed: bool = True  # else priced from the probed models by its counted MACs


@dataclass(frozen=True)
class Price:
    """What a plan costs, whatever runs it: per model, per trial (in grid order), in all."""

    models: dict[str, ModelCost]
    trials: tuple[str, ...]  # model names, each once per seed (`--seeds`)
    epochs: int
    expected_epochs: float
    node_share: float  # of one node (of this machine's kind) a trial holds
    device: str
    busy: float = 0.0  # this machine's load average per CPU while it probed
    actor_start_s: float = 0.0  # once per slot (Tune reuses a one-worker trial's actor)

    @property
    def node_hours(self) -> float:
        seconds = sum(self.models[name].trial_s for name in self.trials)
        return seconds * self.node_share / 3600


def expected_epochs(epochs: int, scheduler: Scheduler) -> float:
    """Epochs a trial trains in expectation: all of them under FIFO; under ASHA (max_t =
    `epochs` unless the scheduler's max_epochs is less) every trial trains to the first
    rung (the grace period) and 1 in `reduction_factor` of those reaching a rung goes on
    to the next (rungs at grace x factor^k below max_t). The first trials to reach a rung
    always go on, so few trials train more."""
    if scheduler.name != "asha":
        return float(epochs)
    grace, factor = scheduler.grace_period, scheduler.reduction_factor
    top = min(epochs, scheduler.max_epochs or epochs)
    if top <= grace:
        return float(top)
    rungs = int(math.log(top / grace) / math.log(factor) + 1)
    milestones = [grace * factor**k for k in range(rungs)]
    bounds = [0, *[m for m in milestones if m < top], top]
    return sum((end - begin) / factor**k for k, (begin, end) in enumerate(pairwise(bounds)))


@contextmanager
def torch_threads(count: int):
    """Torch's intra-op threads set to `count` for the duration (a Train worker's CPUs)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def probe(
    spec: ModelSpec, recipe: Recipe, manifest: dict[str, Any], device: str
) -> tuple[float, float, int]:
    """(train, eval) images/s of one freshly built model, `PROBE_STEPS` steps each, and
    the batch it was probed at."""
    classes, in_chans = len(manifest["classes"]), in_chans_of(manifest)
    counted = spec.size(classes, in_chans)
    batch = probe_batch(counted[MODEL_ACTIVATIONS], recipe, device)
    if device == "cpu":  # a few images tell a CPU's images/s as well as a full batch
        batch = max(1, min(batch, PROBE_STEP_MACS // max(counted[MODEL_MACS], 1)))
    model = spec.build(classes, in_chans).to(device)
    size = (spec.resolution, batch, in_chans, PROBE_STEPS)
    return train_images_per_sec(model, *size), infer_images_per_sec(model, *size), batch


def probe_batch(activations: int, recipe: Recipe, device: str) -> int:
    """The recipe's batch, or as many images as half the free memory holds: a dry run of
    the paper's sizes (width 5 at 224 px, B7 at 600 px) must not take the machine down.
    A training step keeps about `BYTES_PER_ACTIVATION` bytes per counted activation."""
    if device == "cuda":
        free = torch.cuda.mem_get_info()[0]
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(1, min(recipe.batch_size, int(free / 2 // (BYTES_PER_ACTIVATION * activations))))


def price_of(plan: SweepPlan) -> Price:
    """Probe a few of the plan's distinct models on this machine, price the others by their
    counted MACs (`priced_by_macs`), and price the whole plan."""
    trials = plan.trials() or proposed_stand_ins(plan)
    manifest = load_manifest(plan.param_space["data"])
    recipe, res = trials[0].recipe, plan.resources
    device = "cuda" if res.gpus_per_worker and torch.cuda.is_available() else "cpu"
    counts, classes = manifest["counts"], len(manifest["classes"])
    epochs = expected_epochs(plan.epochs, scheduler_of(plan))
    specs = {trial.model.name: trial.model for trial in trials}
    macs = counted_macs(specs, classes, in_chans_of(manifest))
    chosen = probe_choice(macs)
    if any(macs[name] * recipe.batch_size >= SLOW_PROBE_MACS for name in chosen):
        print(f"estimate: probing {', '.join(chosen)} ...", file=sys.stderr)  # seconds
    threads = training_threads(int(res.cpus_per_worker), recipe.loader_workers)
    jobs = [(specs[name], recipe, manifest, device, threads) for name in chosen]
    probed = dict(zip(chosen, probe_all(jobs), strict=True))
    startup_s = TRIAL_STARTUP_S if res.in_trial_actor else DDP_TRIAL_STARTUP_S
    models: dict[str, ModelCost] = {}
    for name in specs:
        train_rate, eval_rate, batch = probed.get(name) or priced_by_macs(macs, probed, name)
        images_s = counts["train"] / train_rate + counts["val"] / eval_rate
        epoch_s = EPOCH_OVERHEAD_S + images_s / res.workers
        models[name] = ModelCost(
            name, train_rate, eval_rate, epoch_s, startup_s + epochs * epoch_s, batch,
            startup_s, probed=name in probed,
        )  # fmt: skip
    trial_names = tuple(trial.model.name for trial in trials)  # Tune's order
    busy = os.getloadavg()[0] / (os.cpu_count() or 1)
    actor_start_s = ACTOR_START_S if res.in_trial_actor else 0.0  # else in DDP's start-up
    return Price(models, trial_names, plan.epochs, epochs, node_share(plan), device, busy,
                 actor_start_s)  # fmt: skip


def probe_all(jobs: list[tuple]) -> list[tuple[float, float, int]]:
    """`probe` each job: side by side on a CPU's cores where each probes on one thread,
    timed in that thread's CPU time (`lightning_modules.measure`), so that neighbours do
    not change what it measures; one after another otherwise (GPUs, several threads)."""
    cores = os.cpu_count() or 1
    if len(jobs) < 2 or cores < 2 or any(job[3] != "cpu" or job[4] != 1 for job in jobs):
        return [_probe_job(job) for job in jobs]
    context = multiprocessing.get_context("fork")  # torch and the zoo imported, nothing run
    with ProcessPoolExecutor(min(cores, len(jobs)), mp_context=context) as pool:
        return list(pool.map(_probe_job, jobs))


def _probe_job(job: tuple) -> tuple[float, float, int]:
    spec, recipe, manifest, device, threads = job
    with torch_threads(threads):
        return probe(spec, recipe, manifest, device)


def counted_macs(specs: dict[str, ModelSpec], classes: int, in_chans: int) -> dict[str, int]:
    """Each model's counted MACs (`lightning_modules.macs`: many of them on all cores)."""
    if len(specs) > MODELS_SHOWN:
        print(f"estimate: counting the MACs of {len(specs)} models ...", file=sys.stderr)
    count_all(specs.values(), classes, in_chans)
    return {name: macs_of(spec, classes, in_chans) for name, spec in specs.items()}


def proposed_stand_ins(plan: SweepPlan) -> list[TrialConfig]:
    """A proposing searcher's trials, priced as random draws of its space, seeds included."""
    config = plan.sweep_config
    return drawn_trials(config.model_copy(update={"data": plan.param_space["data"]}),
                        config.search.samples)  # fmt: skip


def scheduler_of(plan: SweepPlan) -> Scheduler:
    config = plan.sweep_config
    return config.scheduler if config else Scheduler(name=plan.scheduler)


def probe_choice(macs: dict[str, int]) -> list[str]:
    """The models to probe: all of them up to `PROBED_MODELS`, else the cheapest, the
    costliest and those evenly between by counted MACs."""
    ranked = sorted(macs, key=macs.__getitem__)
    if len(ranked) <= PROBED_MODELS:
        return ranked
    picks = {round(k * (len(ranked) - 1) / (PROBED_MODELS - 1)) for k in range(PROBED_MODELS)}
    return [ranked[k] for k in sorted(picks)]


def priced_by_macs(
    macs: dict[str, int], probed: dict[str, tuple[float, float, int]], name: str
) -> tuple[float, float, int]:
    """(train, eval) images/s of an unprobed model: seconds per image interpolated in MACs
    between the probed models around it; beyond them, scaled by MACs from the nearest,
    never cheaper than the cheapest probe."""
    points = sorted((macs[probe_name], rates) for probe_name, rates in probed.items())
    target = macs[name]
    below = [point for point in points if point[0] <= target] or points[:1]
    above = [point for point in points if point[0] >= target] or points[-1:]
    (low_macs, low), (high_macs, high) = below[-1], above[0]

    def rate(k: int) -> float:
        low_s, high_s = 1 / low[k], 1 / high[k]
        if high_macs == low_macs:  # outside the probes: proportional above, flat below
            return 1 / (low_s * max(1.0, target / max(low_macs, 1)))
        share = (target - low_macs) / (high_macs - low_macs)
        return 1 / (low_s + share * (high_s - low_s))

    return rate(0), rate(1), min(low[2], high[2])


def node_share(plan: SweepPlan) -> float:
    """The share of one node like this machine that a trial holds: its GPUs where it
    has GPUs and the node does, else its CPUs."""
    res = plan.resources
    gpus = torch.cuda.device_count()
    if res.gpus_per_worker and gpus:
        return min(1.0, res.workers * res.gpus_per_worker / gpus)
    return min(1.0, res.workers * res.cpus_per_worker / (os.cpu_count() or 1))


def local_slots(plan: SweepPlan) -> int:
    """Trials at once on this machine alone (a dry run starts no Ray): --max-concurrent,
    else what its CPUs (and GPUs) fit, at least one."""
    if plan.max_concurrent:
        return plan.max_concurrent
    cluster = {"CPU": os.cpu_count() or 1, "GPU": torch.cuda.device_count()}
    return max(1, plan.resources.trials_that_fit(cluster))


def wall_seconds(price: Price, slots: int) -> float:
    """The sweep's startup, each slot's actor start, then each trial in grid order on the
    slot that frees first."""
    free_at = [price.actor_start_s] * max(1, slots)
    for name in price.trials:
        slot = free_at.index(min(free_at))
        free_at[slot] += price.models[name].trial_s
    return SWEEP_STARTUP_S + max(free_at)


def check_budget(price: Price, budget_hours: float | None) -> None:
    """InputError naming the estimate when it is over `--budget-hours`."""
    if budget_hours is not None and price.node_hours > budget_hours:
        raise InputError(
            f"--budget-hours {budget_hours:g}: the plan is estimated at "
            f"{price.node_hours:.3g} node-hours; raise the budget or shrink the sweep"
        )


def format_estimate(price: Price, slots: int, slots_from: str) -> str:
    """The estimate as a few lines: each model's probe, then the plan's total."""
    costs = sorted(price.models.values(), key=lambda cost: not cost.probed)
    probed = sum(cost.probed for cost in costs)
    rest = "" if probed == len(costs) else ", the rest (~) priced by their counted MACs"
    lines = [
        f"estimate: {probed} of {len(costs)} models probed {PROBE_STEPS} steps on this "
        f"machine ({price.device}){rest}; per trial",
        f"  {'model':40s} {'batch':>5s} {'train img/s':>11s} {'eval img/s':>10s} "
        f"{'epoch':>7s} {'trial':>7s}",
    ]
    for cost in costs[:MODELS_SHOWN]:
        lines.append(
            f"{' ' if cost.probed else '~'} {cost.name:40s} {cost.batch:5d} "
            f"{cost.train_images_per_sec:11.1f} {cost.eval_images_per_sec:10.1f} "
            f"{duration(cost.epoch_s):>7s} {duration(cost.trial_s):>7s}"
        )
    if len(costs) > MODELS_SHOWN:
        lines.append(f"  ... and {len(costs) - MODELS_SHOWN} more models")
    epochs = f"{price.epochs} epochs"
    if price.expected_epochs != price.epochs:
        epochs += f" (ASHA: {price.expected_epochs:g} expected)"
    lines.append(
        f"  {len(price.trials)} trials x {epochs} on {slots} slot(s) ({slots_from}): "
        f"{price.node_hours:.3g} node-hours, wall time about "
        f"{duration(wall_seconds(price, slots))}"
    )
    if price.busy > 1:
        lines.append(
            f"  this machine is busy ({price.busy:.1f} runnable processes per CPU): other "
            "work will slow the sweep beyond this estimate"
        )
    return "\n".join(lines)
