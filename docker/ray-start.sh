#!/bin/sh
# `ray start` in a container, its object store sized from the container's own /dev/shm
# (compose's shm_size): Ray would take ~30% of the host's memory, more than the container's
# /dev/shm, and fall back to a slow store in /tmp. RAY_OBJECT_STORE_SHM_PERCENT (default
# 60) of /dev/shm goes to the object store; the rest stays for the DataLoader workers.
# RAY_NUM_CPUS, when set, is the --num-cpus of a worker (empty: Ray counts them).
set -eu
shm_kib=$(df -k --output=size /dev/shm | tail -n 1)
store=$((shm_kib * 1024 / 100 * ${RAY_OBJECT_STORE_SHM_PERCENT:-60}))
if [ -n "${RAY_NUM_CPUS:-}" ]; then
  set -- --num-cpus "$RAY_NUM_CPUS" "$@"
fi
exec ray start --object-store-memory "$store" "$@"
