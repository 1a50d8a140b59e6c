"""The names a run's numbers are logged under, in one place: the Lightning module and the
trial log them, MLflow stores them, and the tracker, leaderboard, charts, export and UI
read them back by these constants (`pipeline/tracking/schema.py` says what each means
and at which step). Values are fractions in 0..1 for accuracies, seconds for times.
"""

from __future__ import annotations

# per epoch, step = the epoch (1-based); the module logs `val/...` for each evaluated
# network (`val/acc1_raw` beside an EMA's `val/acc1`)
TRAIN_LOSS = "train/loss"
VAL_LOSS = "val/loss"
VAL_ACC1 = "val/acc1"  # top-1: what "best" means for checkpoints, schedulers, leaderboards
VAL_ACC5 = "val/acc5"
TRAIN_IMAGES_PER_SEC = "train/images_per_sec"
TRAIN_EPOCH_TIME = "train/epoch_time"

# summaries, re-logged at each epoch
BEST_VAL_ACC1 = "best/val/acc1"
BEST_VAL_ACC5 = "best/val/acc5"
BEST_EPOCH = "best/epoch"
VAL_LAST_EPOCH = "val/last_epoch"
TRAIN_TOTAL_TIME = "train/total_time"
DIVERGED = "diverged"  # 1.0 in a run's last epoch when its loss diverged (divergence.py)

# the model, at step 0: counted from its shapes, then measured after training
MODEL_PARAMS = "model/params"
MODEL_MACS = "model/macs"
MODEL_ACTIVATIONS = "model/activations"
MODEL_INFER_IMAGES_PER_SEC = "model/infer_images_per_sec"
MODEL_LATENCY_MS = "model/latency_ms"
MODEL_PEAK_MEMORY_MB = "model/peak_memory_mb"

# `ladder evaluate`: an exported model on a split
EVAL_ACC1 = "eval/acc1"
EVAL_ACC5 = "eval/acc5"
EVAL_IMAGES = "eval/images"
EVAL_IMAGES_PER_SEC = "eval/images_per_sec"
