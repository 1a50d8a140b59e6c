#!/usr/bin/env bash
# The compose stack of docker/compose.yaml, as `make images|cluster-up|cluster-down` and
# the docker-marked test run it:
#
#   docker/cluster.sh env        docker/.env with fresh secrets, unless it exists
#   docker/cluster.sh images     the base images (pulled, or stand-ins), then cnn-ladder
#   docker/cluster.sh up         env, images, the stack with RAY_WORKERS workers, healthy
#   docker/cluster.sh down       the stack and its volumes
#   docker/cluster.sh compose …  `docker compose` (or docker-compose 1.29) on this stack
#
# COMPOSE_PROJECT_NAME (default cnn-ladder) names the stack; LADDER_ENV_FILE (default
# docker/.env) holds its secrets and settings. Where a public base image can be neither
# found nor pulled (no registry answers), a stand-in is built from Debian packages
# (docker/standins/) and named in docker/.images.env, which `compose` reads too.
set -euo pipefail
cd "$(dirname "$0")/.."
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-cnn-ladder}
env_file=${LADDER_ENV_FILE:-docker/.env}
images_env=docker/.images.env
RAY_WORKERS=${RAY_WORKERS:-2}

log() { printf 'cluster: %s\n' "$*" >&2; }

build() {  # docker build -q, without the legacy builder's deprecation notice
  docker build -q "$@" 2> >(grep -v -e DEPRECATED -e buildx -e '^ *$' >&2) >/dev/null
}

compose() {
  local files=(-f docker/compose.yaml)
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    files+=(-f docker/compose.gpu.yaml)
  fi
  if [ -f "$images_env" ]; then set -a && . "$images_env" && set +a; fi
  if docker compose version >/dev/null 2>&1; then
    docker compose --env-file "$env_file" -p "$COMPOSE_PROJECT_NAME" "${files[@]}" "$@"
  else
    docker-compose --env-file "$env_file" -p "$COMPOSE_PROJECT_NAME" "${files[@]}" "$@"
  fi
}

make_env() {  # the example with each empty password and token set to a fresh secret
  [ -f "$env_file" ] && return
  umask 077
  while IFS= read -r line; do
    case "$line" in
      *PASSWORD= | *TOKEN=) printf '%s%s\n' "$line" "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done <docker/.env.example >"$env_file"
  log "wrote $env_file with fresh secrets"
}

have_or_pull() {  # the public image is here or can be pulled
  docker image inspect "$1" >/dev/null 2>&1 || docker pull -q "$1" >/dev/null 2>&1
}

pip_index() {  # the index the host's pip uses, so the images use the same mirror
  local url=${PIP_INDEX_URL:-}
  if [ -z "$url" ] && command -v pip >/dev/null; then
    url=$(pip config get global.index-url 2>/dev/null || true)
  fi
  case "$url" in http://* | https://*) echo "$url" ;; *) echo https://pypi.org/simple ;; esac
}

images() {
  local start=$SECONDS python postgres s3 index
  python=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
  postgres=${POSTGRES_IMAGE:-postgres:15-bookworm}
  s3=${S3_IMAGE:-minio/minio:RELEASE.2025-09-07T16-13-09Z}
  index=$(pip_index)
  local debian=cnn-ladder-standin/debian:bookworm
  need_debian() {
    docker image inspect "$debian" >/dev/null 2>&1 && return
    log "no registry: a Debian bookworm base by debootstrap"
    bash docker/standins/debian-base.sh "$debian" >/dev/null
  }
  if ! have_or_pull "$python"; then
    need_debian
    python=cnn-ladder-standin/python:3.11-bookworm
    log "stand-in $python"
    build -t "$python" --build-arg DEBIAN_IMAGE="$debian" -f docker/standins/python.Dockerfile .
  fi
  if ! have_or_pull "$postgres"; then
    need_debian
    postgres=cnn-ladder-standin/postgres:15-bookworm
    log "stand-in $postgres"
    build -t "$postgres" --build-arg DEBIAN_IMAGE="$debian" -f docker/standins/postgres.Dockerfile .
  fi
  if ! have_or_pull "$s3"; then
    s3=cnn-ladder-standin/s3:moto
    log "stand-in $s3 (moto's S3 server)"
    build -t "$s3" --build-arg PYTHON_IMAGE="$python" --build-arg PIP_INDEX_URL="$index" \
      -f docker/standins/s3.Dockerfile .
  fi
  printf 'PYTHON_IMAGE=%s\nPOSTGRES_IMAGE=%s\nS3_IMAGE=%s\nPIP_INDEX_URL=%s\n' \
    "$python" "$postgres" "$s3" "$index" >"$images_env"
  log "cnn-ladder:local FROM $python"
  build -t "${LADDER_IMAGE:-cnn-ladder:local}" --build-arg PYTHON_IMAGE="$python" \
    --build-arg PIP_INDEX_URL="$index" -f docker/Dockerfile .
  log "images in $((SECONDS - start)) s:"
  docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
    grep -E "^(${LADDER_IMAGE:-cnn-ladder:local}|$python|$postgres|$s3) " | sed 's/^/  /' >&2 || true
}

workers_joined() {  # alive Ray nodes besides the head
  compose exec -T ray-head python -c \
    'import ray; ray.init(logging_config=ray.LoggingConfig(log_level="ERROR")); print(sum(n["Alive"] for n in ray.nodes()) - 1)' \
    2>/dev/null | tail -n 1
}

up() {
  local start=$SECONDS
  make_env
  images
  compose up -d --no-build --scale "ray-worker=$RAY_WORKERS"
  for _ in $(seq 120); do
    [ "$(workers_joined || true)" = "$RAY_WORKERS" ] && break
    sleep 5
  done
  [ "$(workers_joined || true)" = "$RAY_WORKERS" ] || { log "workers did not join"; exit 1; }
  log "up in $((SECONDS - start)) s: MLflow http://127.0.0.1:${MLFLOW_PORT:-5000}, Ray dashboard http://127.0.0.1:${RAY_DASHBOARD_PORT:-8265}, $RAY_WORKERS workers"
}

case "${1:-}" in
  env) make_env ;;
  images) images ;;
  up) up ;;
  down) compose down -v --remove-orphans ;;
  compose) shift && compose "$@" ;;
  *) sed -n '2,14p' "$0" >&2 && exit 2 ;;
esac
