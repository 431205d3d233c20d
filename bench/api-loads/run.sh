#!/usr/bin/env bash
# Benchmark: GET /api/v1/loads (last 24 hours, first page of 50) on `intake serve` with 100,000 loads in a
# PostgreSQL catalog, under 50 concurrent clients for 30 seconds on loopback (wrk). Prints p50, p99 and the
# error count, for an admin key (all customers) and a customer key (one customer's loads).
#   bench/api-loads/run.sh [LOADS] [SECONDS] [CLIENTS]      (defaults 100000 30 50)
# Target (issue 4): p99 at most 50 ms, no errors.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
loads=${1:-100000}; seconds=${2:-30}; clients=${3:-50}
work=$(mktemp -d /tmp/intake-bench-api-XXXX); chmod 755 "$work"
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55440}
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  "$repo/scripts/servers/postgres.sh" stop
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
if ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
  (apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }) >&2
fi
eval "$("$repo/scripts/servers/postgres.sh" start)"; conn=$INTAKE_TEST_PG
psql_="psql -qAt -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"

mkdir -p "$work/project/pipelines" "$work/project/incoming"
# On a 2-core machine shared with PostgreSQL and wrk, a small pool (fewer PostgreSQL backends competing for the
# cores) and prepared statements (no re-planning) help; CONN_EXTRA= (empty) measures the Npgsql defaults.
cat > "$work/project/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "$conn${CONN_EXTRA-;Maximum Pool Size=8;Max Auto Prepare=20}" }
stores: { local: { kind: local, root: .intake/store } }
YAML
# One idle pipeline: the seeded loads belong to pipelines that are not configured, so no worker touches them.
cat > "$work/project/pipelines/idle.yaml" <<'YAML'
name: idle
customer: acme
source: { kind: local, path: ../incoming }
steps: [fetch, archive]
YAML

"$repo/intake" --help >/dev/null   # build outside the measurement
admin=$("$repo/intake" keys create --scope admin --config "$work/project" 2>/dev/null)
acme=$("$repo/intake" keys create --customer acme --scope read --config "$work/project" 2>/dev/null)

echo "seeding $loads loads over the last 48 hours..." >&2
$psql_ <<SQL
INSERT INTO intake_loads (pipeline, customer, source_key, fingerprint, source_size, status, attempts, error_kind, error_message, created_at, updated_at)
SELECT 'p' || (i % 20), (ARRAY['acme', 'globex', 'initech', 'umbrella'])[1 + i % 4], 'incoming/' || i || '.csv.gz', 'size:' || i, 1000 + i,
       (ARRAY['archived', 'archived', 'archived', 'errored', 'ready', 'held'])[1 + i % 6], 1,
       CASE WHEN i % 6 = 3 THEN 'format' END, CASE WHEN i % 6 = 3 THEN 'not a gzip file' END,
       now() - make_interval(secs => (($loads - i) * 172800.0 / $loads)), now()
FROM generate_series(1, $loads) AS i;
ANALYZE intake_loads;
SQL

port=$((20000 + RANDOM % 20000))
"$repo/intake" serve --urls "http://127.0.0.1:$port" --rate-limit off --workers 1 --config "$work/project" > "$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
url="http://127.0.0.1:$port/api/v1/loads"
curl -sf -H "X-Api-Key: $admin" "$url" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("first page:", len(d["items"]), "loads; next_cursor set:", d["next_cursor"] is not None)' >&2

run() {   # name key
  wrk -t2 -c"$clients" -d"${seconds}s" --latency -H "X-Api-Key: $2" "$url" > "$work/wrk-$1.txt" 2>&1 || true
  awk -v name="$1" -v clients="$clients" -v secs="$seconds" '
    $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
    /requests in/ { total = $1 } /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { non2xx = $NF } /Socket errors/ { socket = $0 }
    END { printf "%-6s %d clients, %ds: %s requests (%s/s), p50 %s, p99 %s, errors %d%s\n", name, clients, secs, total, rps, p50, p99, non2xx + 0, socket ? " (" socket ")" : "" }' "$work/wrk-$1.txt"
}
curl -s -H "X-Api-Key: $admin" "$url" >/dev/null   # warm up
wrk -t2 -c"$clients" -d5s -H "X-Api-Key: $admin" "$url" >/dev/null 2>&1 || true
run admin "$admin"
run acme "$acme"
