# cnn-ladder: every target installs what it needs first (a venv in .venv, pinned by constraints.txt).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# sweep knobs: make sweep SPACE=compound_scaling DATA=/shards RAY_ADDRESS=auto GPUS_PER_TRIAL=1,
# or make sweep CONFIG=my_sweep.yaml
SPACE ?= demo
CONFIG ?=
DATA ?= data/digits
NAME ?=
EPOCHS ?=
GPUS_PER_TRIAL ?= 0
WORKERS_PER_TRIAL ?= 1
SWEEP_FLAGS ?=

.PHONY: install test test-workers test-fast test-scenarios lint bench bench-scale sweep resume demo-data chart leaderboard ui mlflow-server clean \
	calibrate fashion-data \
	images cluster-up cluster-down cluster-test cluster-constraints gpu-check gpu-wheels

install: $(INSTALLED)

# Redone only when the dependency pins change. pip brings uv (pinned like the rest), and uv
# installs the ~6.5 GB of wheels torch pulls in and byte-compiles them on both cores: 79 s
# here from an empty cache, 54 s from uv's, where pip took 233-314 s. The compiling is kept:
# where PYTHONDONTWRITEBYTECODE is set (as here), every process would compile torch again.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $@

# test: every test but the scenarios (whole stories of minutes: a driver, a node or the
# tracking server lost, the calibration, the estimate against a real sweep, a winner
# exported, the UI in a browser, the benchmarks at scale), which test-scenarios runs; CI runs both, then cluster-test (the compose stack).
# test and test-fast run on TEST_WORKERS pytest-xdist workers, a test file to a worker
# (--dist loadfile: a module's Ray cluster or server is started once, not once a worker);
# the tests' Rays and servers take free ports and private RAY_TMPDIRs, so two run side by
# side. Here make test's pytest takes 495-498 s (655-792 s in one process), test-fast's
# 113 s (178 s). The scenarios stay in one process: they kill nodes and servers on
# timers, and time what they measure.
TEST_WORKERS ?= 2
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile
# pytest-xdist reads -n -1 as 0 (no workers) and would start -n 99999: checked before install.
TEST_WORKERS_OK = $(and $(filter 1,$(words $(TEST_WORKERS))),$(filter auto $(shell seq 32),$(TEST_WORKERS)))
test-workers:
	$(if $(TEST_WORKERS_OK),,$(error TEST_WORKERS=$(TEST_WORKERS): expected a number of pytest-xdist workers from 1 to 32, or auto))

test: test-workers install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-fast: test-workers install
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow and not docker and not scenario"

test-scenarios: install
	$(BIN)/python -m pytest -m "scenario and not docker"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

BENCH_ARCHS ?= lenet5,alexnet,vgg16,resnet50,mobilenetv2,efficientnet_b0
# the data benchmark's own photo-like tree, or: BENCH_DATA_FLAGS='--data SHARDS --src ORIGINALS'
BENCH_DATA_FLAGS ?= --synthetic 1280

bench: install
	$(BIN)/ladder bench data $(BENCH_DATA_FLAGS)
	$(BIN)/ladder bench model --arch $(BENCH_ARCHS) --resolution 224 --batch-size 16

# How costs grow with scale (pipeline/bench/scale.py), JSON + PNG curves in docs/scale/:
# the leaderboard over generated sweeps of SCALE_RUNS trials (stores kept in build/scale-stores,
# so only the first run writes them; SCALE_RUNS=100,1000,10000 adds ~4 min the first time),
# `ladder sync` of journals of SCALE_RECORDS records, `ladder shards` on SCALE_IMAGES tiny
# images (SCALE_IMAGES=10000,100000,1000000 adds ~7 min), a rerun of `ladder shards` into
# SCALE_SHARDS finished shards, and which reader of 8, 64
# and 512 ranks x 4 workers owns which of 1,000 ImageNet-like shards (pipeline/bench/
# rank_split.py, the data module's own split; ~30 s), and real sweeps of SCALE_TRIALS
# trivial trials, then an ASHA sweep of SCALE_ASHA_TRIALS (pipeline/bench/sweep_scale.py;
# ~14 min), then every chart at 4 and 1,000 generated trials (pipeline/bench/chart_scale.py,
# each chart's PNG at 1,000 beside the JSON; ~1 min). About 28 min here.
SCALE_RUNS ?= 100,300,1000
SCALE_RECORDS ?= 100,1000,10000
SCALE_IMAGES ?= 10000,100000
SCALE_SHARDS ?= 100,300,1000
SCALE_TRIALS ?= 8,32,128
SCALE_ASHA_TRIALS ?= 128

bench-scale: install
	mkdir -p docs/scale build
	$(BIN)/ladder bench tracking --runs $(SCALE_RUNS) --store build/scale-stores \
	  --out docs/scale/tracking.json
	$(BIN)/ladder bench sync --records $(SCALE_RECORDS) --out docs/scale/sync.json
	$(BIN)/ladder bench shards --images $(SCALE_IMAGES) --out docs/scale/shards.json
	$(BIN)/ladder bench shards-rerun --shards $(SCALE_SHARDS) --out docs/scale/shards_rerun.json
	$(BIN)/ladder bench rank-split --out docs/scale/rank_split.json
	$(BIN)/ladder bench sweep --trials $(SCALE_TRIALS) --asha-trials $(SCALE_ASHA_TRIALS) \
	  --out docs/scale/sweep.json
	$(BIN)/ladder bench charts --trials 4,1000 --out docs/scale/charts.json

# The GPU path on a bare GPU machine without network (pipeline/bench/gpu_check.py, <= 8 min):
# torch, timm and pytorch-lightning as that machine has them, webdataset from the wheels
# `make gpu-wheels` puts in build/gpu-wheels here. GPU_PYTHON: the machine's Python.
GPU_PYTHON ?= python3

gpu-check:
	$(GPU_PYTHON) -c 'import webdataset' 2>/dev/null || $(GPU_PYTHON) -m pip install --quiet \
	  --no-index --find-links build/gpu-wheels webdataset braceexpand
	PYTHONPATH=. timeout 480 $(GPU_PYTHON) -m pipeline gpu-check --out build/gpu-check.json

gpu-wheels: install
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
	  --dest build/gpu-wheels -c constraints.txt webdataset braceexpand

# Calibration against Fashion-MNIST's published table (not in CI: CPU hours). The data from
# Debian's dataset-fashion-mnist; CALIBRATE_SET picks what fits the machine (a GPU: the
# whole ladder, CALIBRATE_SET=); SEEDS runs per point for the error bars.
FASHION ?= data/fashion-mnist
SEEDS ?= 2
CALIBRATE_SET ?= --set archs=lenet5
CALIBRATE_NAME ?= fashion-calibrate

fashion-data: install
	test -f $(FASHION)/manifest.json || $(BIN)/ladder shards --demo fashion-mnist --out $(FASHION)

calibrate: fashion-data
	mkdir -p docs
	$(BIN)/ladder calibrate --data $(FASHION) --arch lenet5 --out docs/calibrate_lenet5.json
	$(BIN)/ladder sweep --space fashion_mnist --data $(FASHION) --name $(CALIBRATE_NAME) \
	  --seeds $(SEEDS) $(CALIBRATE_SET) $(SWEEP_FLAGS)
	$(BIN)/ladder baseline --data $(FASHION) --model svc --experiment $(CALIBRATE_NAME)
	$(BIN)/ladder leaderboard --experiment $(CALIBRATE_NAME)
	$(BIN)/ladder chart --experiment $(CALIBRATE_NAME) --figure reference --out docs/fashion_mnist

demo-data: install
	test -f data/digits/manifest.json || $(BIN)/ladder shards --demo digits --out data/digits

# CONFIG=my_sweep.yaml runs a sweep file (see README "Your own sweep"): its own data and
# resources, unless NAME, EPOCHS or SWEEP_FLAGS say otherwise.
DEMO := $(if $(CONFIG),,$(filter demo,$(SPACE)))
sweep: install $(if $(DEMO),demo-data)
	$(BIN)/ladder sweep $(if $(CONFIG),--config $(CONFIG),--space $(SPACE) --data $(DATA) \
	  --gpus-per-trial $(GPUS_PER_TRIAL) --workers-per-trial $(WORKERS_PER_TRIAL)) \
	  $(if $(NAME),--name $(NAME)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(SWEEP_FLAGS)
	$(if $(DEMO),$(BIN)/ladder baseline --data $(DATA) --model svc)

resume: install
	$(BIN)/ladder sweep --resume $(if $(NAME),$(NAME),latest) $(SWEEP_FLAGS)

leaderboard: install
	$(BIN)/ladder leaderboard

chart: install
	$(BIN)/ladder chart

ui: install
	$(BIN)/ladder ui

mlflow-server: install
	$(BIN)/ladder server

# The compose stack (docker/compose.yaml) on this machine, through docker/cluster.sh: Compose
# v2 or docker-compose 1.29, whichever is installed; stand-in base images where no registry
# answers. RAY_WORKERS workers (default 2); GPU workers where nvidia-smi lists GPUs.
images:
	docker/cluster.sh images

cluster-up:
	docker/cluster.sh up

cluster-down:
	docker/cluster.sh down

# Builds, starts a stack of its own, sweeps on it, kills a worker, restarts the head and
# PostgreSQL, tears it down, and prints the timings (tests/test_docker_cluster.py).
cluster-test: install
	mkdir -p build
	LADDER_REQUIRE_DOCKER=1 $(BIN)/python -m pytest -m docker -s -p no:cacheprovider \
	  --basetemp=build/cluster-test tests/test_docker_cluster.py

# docker/constraints-cluster.txt again, resolved with constraints.txt against the index.
cluster-constraints: install
	$(BIN)/python docker/constraints_cluster.py > docker/constraints-cluster.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
