# Stand-in for postgres:15-bookworm where no registry answers: Debian bookworm's
# PostgreSQL 15 on the debootstrapped base (debian-base.sh), started like the official
# image: POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB set up the cluster on first
# start in PGDATA (/var/lib/postgresql/data, the volume), password (SCRAM) logins over
# TCP, and pg_isready on the PATH for the health check.
# Build from the repository root: docker build -f docker/standins/postgres.Dockerfile .
ARG DEBIAN_IMAGE=cnn-ladder-standin/debian:bookworm
FROM ${DEBIAN_IMAGE}
# Debian's bookworm packages: versions follow the bookworm release (its point updates).
# No cluster is made at install time: the entrypoint makes it, in the volume.
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common \
    && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data \
    && install -d -o postgres -g postgres -m 2775 /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY docker/standins/postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
# hadolint ignore=DL3066
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
