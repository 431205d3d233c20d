#!/usr/bin/env bash
# Throwaway PostgreSQL 15 for tests and benchmarks, on 127.0.0.1:${INTAKE_PG_PORT:-55432}.
#   scripts/servers/postgres.sh install   install postgresql-15 from Debian when missing (root)
#   scripts/servers/postgres.sh start     initdb a fresh cluster under $INTAKE_SERVERS_DIR and start it;
#                                         prints 'export INTAKE_TEST_PG=<connection string>'
#   scripts/servers/postgres.sh down      stop the cluster as an outage does (fast: sessions are cut), keeping its data
#   scripts/servers/postgres.sh up        start the cluster 'down' stopped, on the same data and port
#   scripts/servers/postgres.sh restart   down, then up: a sub-second catalog outage (the tests of daemons use these three)
#   scripts/servers/postgres.sh stop      stop the cluster this script started (by its postmaster PID)
# Superuser postgres with trust auth on loopback; database 'intake' owned by it.
set -euo pipefail
PORT=${INTAKE_PG_PORT:-55432}
D=${INTAKE_SERVERS_DIR:-/tmp/intake-servers}
PG=$D/pg
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
# fsync off: a throwaway test cluster; durability is tested at Intake's level, not PostgreSQL's.
pg_start() {
  as_pg "$BIN/pg_ctl" -D "$PG/data" -l "$PG/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $PORT -k $PG -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
}

case "${1:-}" in
  install)
    if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 >/dev/null
    fi
    ;;
  start)
    [ -x "$BIN/initdb" ] || { echo "postgres.sh: PostgreSQL is not installed; run '$0 install' as root" >&2; exit 1; }
    if [ -f "$PG/data/postmaster.pid" ] && kill -0 "$(head -1 "$PG/data/postmaster.pid")" 2>/dev/null; then
      echo "export INTAKE_TEST_PG='Host=127.0.0.1;Port=$PORT;Username=postgres;Database=intake'"; exit 0
    fi
    rm -rf "$PG"; mkdir -p "$PG"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG" && chmod 755 "$D"
    as_pg "$BIN/initdb" -D "$PG/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG/initdb.log"
    pg_start
    psql -qh 127.0.0.1 -p "$PORT" -U postgres -c "create database intake" >/dev/null
    echo "export INTAKE_TEST_PG='Host=127.0.0.1;Port=$PORT;Username=postgres;Database=intake'"
    ;;
  down|up|restart)
    [ -f "$PG/data/PG_VERSION" ] || { echo "postgres.sh: no cluster under $PG; use '$0 start'" >&2; exit 1; }
    if [ "$1" != up ] && [ -f "$PG/data/postmaster.pid" ]; then as_pg "$BIN/pg_ctl" -D "$PG/data" -m fast -w stop >/dev/null; fi
    if [ "$1" != down ] && [ ! -f "$PG/data/postmaster.pid" ]; then pg_start; fi
    ;;
  stop)
    if [ -f "$PG/data/postmaster.pid" ]; then
      as_pg "$BIN/pg_ctl" -D "$PG/data" -m fast stop >/dev/null || true
    fi
    ;;
  *) echo "usage: $0 install|start|down|up|restart|stop" >&2; exit 2 ;;
esac
