#!/usr/bin/env bash
# The Bridge exporter example, end to end:
#   examples/bridge-exporter/run.sh
# Uses $INTAKE_TEST_PG when set, else starts PostgreSQL from scripts/servers/postgres.sh (stopped at the end;
# KEEP=1 leaves it). Seeds the source, then: a daily export up to 2026-01-20 (each study from the default start),
# a second one up to 2026-02-01 (each study from its watermark), the watermarks, a re-export of one day that
# leaves the watermarks alone, a record override, and deleting a study's watermark.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
intake() { "$repo/intake" --config "$here" "$@"; }
if [ -z "${INTAKE_TEST_PG:-}" ]; then
  export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-/tmp/intake-bridge-example} INTAKE_PG_PORT=${INTAKE_PG_PORT:-55437}
  mkdir -p "$INTAKE_SERVERS_DIR"; chmod 755 "$INTAKE_SERVERS_DIR"
  [ "$(id -u)" = 0 ] && "$repo/scripts/servers/postgres.sh" install >&2
  eval "$("$repo/scripts/servers/postgres.sh" start)"
  [ -n "${KEEP:-}" ] || trap '"$repo/scripts/servers/postgres.sh" stop' EXIT
fi
field() { tr ';' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
host=$(field "$INTAKE_TEST_PG" Host); port=$(field "$INTAKE_TEST_PG" Port); user=$(field "$INTAKE_TEST_PG" Username)
psql_() { psql -qAt -h "$host" -p "$port" -U "$user" "$@"; }
for db in bridge_example_source bridge_example_catalog; do
  psql_ -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
psql_ -d bridge_example_source -f "$here/seed.sql"
export BRIDGE_SOURCE="Host=$host;Port=$port;Username=$user;Database=bridge_example_source"
export BRIDGE_CATALOG="Host=$host;Port=$port;Username=$user;Database=bridge_example_catalog"
rm -rf "$here/.intake"

echo "== daily export up to 2026-01-20 (no watermarks yet: each study from default_start)"
intake export bridge --type daily --end 2026-01-20T00:00:00Z --wait
echo "== the next one up to 2026-02-01 starts at each study's watermark"
intake export bridge --type daily --end 2026-02-01T00:00:00Z --wait
intake watermarks bridge
echo "== re-export of 2026-01-10 for heart only, watermarks untouched"
intake export bridge --type daily --ignore-last-export-time --start 2026-01-10T00:00:00Z --end 2026-01-11T00:00:00Z --partition heart --tag re-export --wait
echo "== record override: two records whatever their time"
intake export bridge --records 3,4 --wait
echo "== the same request again is not queued again"
intake export bridge --records 3,4
echo "== the study 'sleep' is deleted: forget its watermark"
intake watermarks delete bridge sleep
intake watermarks bridge
intake loads --pipeline bridge
echo "== objects written:"
(cd "$here/.intake/store/exports" && find . -name '*.gz' | sort)
