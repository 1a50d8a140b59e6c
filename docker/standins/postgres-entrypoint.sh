#!/bin/sh
# The official postgres image's start, in short: on an empty PGDATA, a cluster whose
# superuser is POSTGRES_USER (password POSTGRES_PASSWORD) with the database POSTGRES_DB,
# listening on every interface with password logins; then the server.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
  user=${POSTGRES_USER:-postgres}
  database=${POSTGRES_DB:-$user}
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\";" | postgres --single -jE postgres >/dev/null
  fi
  echo "postgres stand-in: database $database for $user initialised in $PGDATA"
fi
exec "$@"
