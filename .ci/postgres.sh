#!/usr/bin/env bash
# Start a throw-away PostgreSQL cluster for the tests and print the URL to reach it.
#
#   eval "$(bash .ci/postgres.sh start /tmp/tracker-pg)"   # exports TRACKER_TEST_POSTGRES
#   bash .ci/postgres.sh stop /tmp/tracker-pg
#
# Installs Debian's postgresql package when no server binaries are found. The cluster
# runs as the unprivileged `postgres` user (initdb refuses root) on a Unix socket in
# its own directory and on a free loopback port, so it never clashes with another one.
set -euo pipefail
action=${1:-start}
dir=${2:-/tmp/tracker-pg}

bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "installing PostgreSQL from Debian packages" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
    d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$d"
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    su postgres -s /bin/bash -c "$*"
  else
    bash -c "$*"
  fi
}

case "$action" in
  start)
    bin=$(bindir)
    if [ -f "$dir/data/postmaster.pid" ] && as_pg "'$bin/pg_ctl' -D '$dir/data' status" >/dev/null 2>&1; then
      port=$(cat "$dir/port")
    else
      rm -rf "$dir"
      mkdir -p "$dir/socket"
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      echo "$port" > "$dir/port"
      [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; chown -R postgres "$dir"; }
      as_pg "'$bin/initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 --no-locale" >/dev/null
      as_pg "'$bin/pg_ctl' -D '$dir/data' -l '$dir/log' -w -o \"-p $port -k '$dir/socket' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start" >/dev/null
    fi
    echo "export TRACKER_TEST_POSTGRES='postgresql+psycopg://postgres@127.0.0.1:$port/postgres'"
    ;;
  stop)
    bin=$(bindir)
    as_pg "'$bin/pg_ctl' -D '$dir/data' -m fast stop" >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
