# Stand-in for python:3.11-slim-bookworm where no registry answers: Debian bookworm's
# Python 3.11 on the debootstrapped base (debian-base.sh), `python` on the PATH as in the
# official image. Build: docker build -f docker/standins/python.Dockerfile docker/standins
ARG DEBIAN_IMAGE=cnn-ladder-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
# Debian's bookworm packages: versions follow the bookworm release (its point updates).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && ln -s /usr/bin/python3 /usr/local/bin/python \
    && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
