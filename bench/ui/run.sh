#!/usr/bin/env bash
# Benchmark: the operator UI's pages and the load list they are built on, with LOADS loads (default 1,000,000) in a
# PostgreSQL catalog, as one operator sees them: one request at a time, over and over (REQUESTS each, default 200).
# Prints p50/p95/p99 per path and key, then the plan and time of every catalog query behind the paths (EXPLAIN
# ANALYZE through auto_explain, on a second, untimed pass), then the aggregates of the Overview and Errors pages run
# directly, beside the GROUP BY over the loads that the rollups replace.
#   bench/ui/run.sh [LOADS] [REQUESTS]                          (defaults 1000000 200)
#   PATHS="/api/v1/loads?limit=50 /ui /ui/loads" bench/ui/run.sh  (the paths to measure, space-separated; %7D etc. as in a URL;
#                                                                  {D7} {D14} {D21} stand for the times 7, 14, 21 days ago)
#   KEYS="admin acme"            which keys to measure with: admin (every customer) and/or acme (one customer's read key)
#   UI_SIGNIN=/ui/signin UI_KEY_FIELD=key UI_TOKEN_FIELD=__token   how to sign in when a /ui path answers with a sign-in page (cookie session)
#   KEEP=1                       keep the work directory (catalog, logs) under /tmp
# Target (issue 14): the Loads and Overview pages under 200 ms at the 95th percentile with 1,000,000 loads.
# The catalog is seeded with SQL (generate_series): 5 pipelines of 2 customers over 30 days (20% in the last 7),
# 96% archived, 3% errored (four kinds), 0.5% held, 0.5% ready, with their step records (about 5 per load).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
loads=${1:-1000000}; requests=${2:-200}
work=$(mktemp -d /tmp/intake-bench-ui-XXXX); chmod 755 "$work"
export INTAKE_SERVERS_DIR=$work/servers INTAKE_PG_PORT=${INTAKE_PG_PORT:-55451}
serve_pid=""
stop_serve() { if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; serve_pid=""; fi; }
cleanup() {
  stop_serve
  "$repo/scripts/servers/postgres.sh" stop
  [ -n "${KEEP:-}" ] && echo "kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

eval "$("$repo/scripts/servers/postgres.sh" start)"; conn=$INTAKE_TEST_PG
psql_="psql -qAt -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $INTAKE_PG_PORT -U postgres -d intake"

mkdir -p "$work/project/pipelines" "$work/project/incoming"
cat > "$work/project/intake.yaml" <<YAML
catalog: { kind: postgres, connection: "$conn${CONN_EXTRA-;Maximum Pool Size=8}" }
stores: { local: { kind: local, root: .intake/store } }
YAML
pipelines=(orders invoices events shipments returns)
for p in "${pipelines[@]}"; do
  case $p in orders|invoices|events) c=acme ;; *) c=globex ;; esac
  printf 'name: %s\ncustomer: %s\nsource: { kind: local, path: ../incoming }\nsteps: [fetch, decompress, validate, archive]\n' "$p" "$c" > "$work/project/pipelines/$p.yaml"
done

"$repo/intake" --help >/dev/null   # build outside the measurement
admin=$("$repo/intake" keys create --scope admin --config "$work/project" 2>/dev/null)
acme=$("$repo/intake" keys create --customer acme --scope read --config "$work/project" 2>/dev/null)

echo "seeding $loads loads with their step records..." >&2
seed_start=$(date +%s)
$psql_ <<SQL
-- Paused: no worker or discovery touches the seeded loads while they are measured.
INSERT INTO intake_pipeline_pauses (pipeline, paused_by, paused_at)
SELECT p, 'bench', now() FROM unnest(ARRAY['orders', 'invoices', 'events', 'shipments', 'returns']) AS p;

-- rank 0 is the newest load: the newest 20% spread over the last 7 days, the rest over the 23 days before.
INSERT INTO intake_loads (pipeline, customer, source_key, fingerprint, source_size, status, attempts, error_kind, error_message, held_reason, created_at, updated_at)
SELECT p, c, 'in/' || c || '/' || p || '/' || to_char(t, 'YYYY/MM/DD') || '/' || p || '_' || i || '.csv.gz', 'size=' || (1000 + i % 50000),
       1000 + i % 50000, s, 1,
       CASE WHEN s = 'errored' THEN k END,
       CASE WHEN s = 'errored' THEN k || ' problem in file ' || i END,
       CASE WHEN s = 'held' THEN 'waiting for the snapshot' END,
       t, t + interval '2 minutes'
FROM (
    SELECT i, (ARRAY['orders', 'invoices', 'events', 'shipments', 'returns'])[1 + i % 5] AS p,
           CASE WHEN i % 5 < 3 THEN 'acme' ELSE 'globex' END AS c,
           CASE WHEN r < 30 THEN 'errored' WHEN r < 35 THEN 'held' WHEN r < 40 THEN 'ready' ELSE 'archived' END AS s,
           (ARRAY['format', 'schema', 'integrity', 'transient'])[1 + r % 4] AS k,
           date_trunc('milliseconds', now() - CASE WHEN f < 0.2 THEN f / 0.2 * interval '7 days'
                                                  ELSE interval '7 days' + (f - 0.2) / 0.8 * interval '23 days' END) AS t
    FROM (SELECT i, (i::bigint * 7919) % 1000 AS r, ($loads - i)::float8 / $loads AS f FROM generate_series(1, $loads) AS i) g
) x
ORDER BY i;

-- Steps: an archived load fetch, decompress, validate, load, archive; an errored one fetch, decompress, a failed
-- load and the error copy; a held one fetch and the held attempt; a ready one none.
INSERT INTO intake_steps (load_id, step, attempt, started_at, finished_at, outcome, error_kind, message, rows_in, rows_out, bytes_in, bytes_out, worker)
SELECT l.id, st.step, 1, l.created_at + st.n * interval '1 second', l.created_at + (st.n + 1) * interval '1 second',
       CASE WHEN l.status = 'errored' AND st.step = 'load' THEN 'failed' WHEN l.status = 'held' AND st.n = 1 THEN 'failed' ELSE 'succeeded' END,
       CASE WHEN l.status = 'errored' AND st.step = 'load' THEN l.error_kind END,
       CASE WHEN l.status = 'errored' AND st.step = 'load' THEN l.error_message WHEN l.status = 'held' AND st.n = 1 THEN 'held: waiting for the snapshot' END,
       CASE WHEN st.step IN ('validate', 'load') THEN 1000 + l.id % 5000 END,
       CASE WHEN st.step IN ('validate', 'load') AND l.status <> 'errored' THEN 1000 + l.id % 5000 END,
       l.source_size * CASE WHEN st.step IN ('validate', 'load') THEN 8 ELSE 1 END,
       CASE WHEN st.step IN ('fetch', 'decompress', 'archive', 'error') THEN l.source_size END,
       'bench:1'
FROM intake_loads l
JOIN (VALUES ('fetch', 0, 'archived'), ('decompress', 1, 'archived'), ('validate', 2, 'archived'), ('load', 3, 'archived'), ('archive', 4, 'archived'),
             ('fetch', 0, 'errored'), ('decompress', 1, 'errored'), ('load', 2, 'errored'), ('error', 3, 'errored'),
             ('fetch', 0, 'held'), ('decompress', 1, 'held')) AS st (step, n, status) ON st.status = l.status
ORDER BY l.id, st.n;
SQL
$psql_ -c "VACUUM (ANALYZE) intake_loads" -c "VACUUM (ANALYZE) intake_steps" -c "VACUUM (ANALYZE) intake_load_counts" \
       -c "VACUUM (ANALYZE) intake_load_hours" -c "VACUUM (ANALYZE) intake_step_hours"
echo "seeded in $(( $(date +%s) - seed_start )) s: $($psql_ -c "SELECT count(*) FROM intake_loads") loads, $($psql_ -c "SELECT count(*) FROM intake_steps") step records;" \
     "catalog $($psql_ -c "SELECT pg_size_pretty(pg_database_size('intake'))")" >&2

start_serve() {
  local port=$((20000 + RANDOM % 20000))
  "$repo/intake" serve --urls "http://127.0.0.1:$port" --rate-limit off --workers 1 --discover-every 1h --config "$work/project" > "$work/serve-$1.log" 2>&1 &
  serve_pid=$!
  base="http://127.0.0.1:$port"
  for _ in $(seq 150); do curl -sf "$base/healthz" >/dev/null && return 0; sleep 0.2; done
  echo "intake serve did not start; its log:" >&2; cat "$work/serve-$1.log" >&2; exit 1
}

d7=$(date -u -d '7 days ago' +%Y-%m-%dT%H:%M:%SZ); d14=$(date -u -d '14 days ago' +%Y-%m-%dT%H:%M:%SZ); d21=$(date -u -d '21 days ago' +%Y-%m-%dT%H:%M:%SZ)
rare=$((loads / 10 * 5 + 5))   # one file of the orders pipeline (i % 5 = 0), about two weeks old
default_paths="/api/v1/loads?limit=50
/api/v1/loads?limit=50&since={D7}
/api/v1/loads?limit=50&pipeline=orders&status=errored&since={D21}
/api/v1/loads?limit=50&error_kind=schema&since={D21}
/api/v1/loads?limit=50&since={D21}&until={D14}
/api/v1/loads?limit=50&source_key=orders_${rare}.csv
/api/v1/loads?limit=50&source_key=in/acme/orders/&source_key_match=prefix
/api/v1/loads?limit=50&source_key=in/acme/orders/2026/&source_key_match=prefix&status=held
/api/v1/pipelines
/ui
/ui/loads
/ui/loads?pipeline=orders&status=errored
/ui/loads?source_key=orders_${rare}.csv
/ui/errors"
paths=${PATHS:-$default_paths}
paths=$(printf '%s' "$paths" | tr ' ' '\n' | sed -e "s/{D7}/$d7/g" -e "s/{D14}/$d14/g" -e "s/{D21}/$d21/g")

# curl options for a key: the API key header, plus the UI's session cookie when a /ui path asks for a sign-in.
auth() {   # name key -> prints the curl arguments, one a line
  printf -- '-H\nX-Api-Key: %s\n' "$2"
  if printf '%s\n' "$paths" | grep -q '^/ui'; then
    local jar="$work/cookies-$1.txt" page token
    page=$(curl -s -c "$jar" -b "$jar" -L "$base${UI_SIGNIN:-/ui/signin}" || true)
    # The form's anti-forgery field (UI_TOKEN_FIELD, default __token) and its value, whatever the attribute order.
    local field=${UI_TOKEN_FIELD:-__token}
    token=$(printf '%s' "$page" | grep -o "<input[^>]*name=\"$field\"[^>]*>" | head -1 | grep -o 'value="[^"]*"' | sed 's/^value="//; s/"$//' || true)
    [ -n "$token" ] || { echo "no $field field on the sign-in page $base${UI_SIGNIN:-/ui/signin}" >&2; exit 1; }
    curl -s -o /dev/null -c "$jar" -b "$jar" --data-urlencode "${UI_KEY_FIELD:-key}=$2" --data-urlencode "$field=$token" \
         "$base${UI_SIGNIN:-/ui/signin}" || true
    printf -- '-b\n%s\n' "$jar"
  fi
}

measure() {   # name key
  local name=$1 key=$2 args path code
  mapfile -t args < <(auth "$name" "$key")
  while IFS= read -r path; do
    [ -n "$path" ] || continue
    code=$(curl -s -o "$work/body.txt" -w '%{http_code}' "${args[@]}" "$base$path")
    if [ "$code" != 200 ]; then
      printf '%-6s %-90s HTTP %s (not measured%s)\n' "$name" "$path" "$code" "$( [ "$code" = 404 ] && [[ $path == /ui* ]] && echo ': the UI is not in this build' )"
      continue
    fi
    local items; items=$(python3 -c 'import json,sys
try:
    d=json.load(open(sys.argv[1])); print(len(d["items"]))
except Exception: print("-")' "$work/body.txt")
    # One curl, one keep-alive connection, the same URL REQUESTS times: the time of each transfer.
    local urls=(); for _ in $(seq "$requests"); do urls+=(-o /dev/null "$base$path"); done
    curl -s "${args[@]}" -w '%{http_code} %{time_total}\n' "${urls[@]}" > "$work/times.txt"
    python3 - "$name" "$path" "$items" "$work/times.txt" <<'PY'
import sys
name, path, items, f = sys.argv[1:5]
rows = [l.split() for l in open(f) if l.strip()]
bad = sum(1 for c, _ in rows if c != "200")
t = sorted(float(s) * 1000 for _, s in rows)
q = lambda p: t[min(len(t) - 1, int(round(p / 100 * len(t) + 0.5)) - 1)]
print(f"{name:<6} {path:<90} items {items:>3}  n {len(t)}  p50 {q(50):7.1f} ms  p95 {q(95):7.1f} ms  p99 {q(99):7.1f} ms  max {t[-1]:7.1f} ms" + (f"  non-200: {bad}" if bad else ""))
PY
  done <<< "$paths"
}

start_serve timed
echo "uptime: $(uptime)" >&2
for k in ${KEYS:-admin acme}; do
  case $k in admin) key=$admin ;; acme) key=$acme ;; *) echo "unknown key name $k" >&2; exit 2 ;; esac
  curl -s -H "X-Api-Key: $key" "$base/api/v1/loads" >/dev/null   # warm up
  measure "$k" "$key"
done
stop_serve

echo
echo "== plans: every catalog query behind the paths above (auto_explain, EXPLAIN ANALYZE, admin key, one request each) =="
$psql_ -c "LOAD 'auto_explain'" -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" -c "ALTER SYSTEM SET auto_explain.log_min_duration = 0" \
       -c "ALTER SYSTEM SET auto_explain.log_analyze = on" -c "ALTER SYSTEM SET auto_explain.log_buffers = on" -c "SELECT pg_reload_conf()" >/dev/null
start_serve plans
log="$INTAKE_SERVERS_DIR/pg/server.log"; : > "$log"
while IFS= read -r path; do
  [ -n "$path" ] || continue
  echo "-- GET $path" >> "$log"
  curl -s -o /dev/null -H "X-Api-Key: $admin" "$base$path" || true
done <<< "$paths"
stop_serve
$psql_ -c "ALTER SYSTEM RESET ALL" -c "SELECT pg_reload_conf()" >/dev/null
# Only the plans of the loads and the rollups (not the key checks or pauses).
awk 'function flush() { if (buf ~ /intake_load|intake_step/) print buf "\n"; buf = "" }
     /^-- GET / { flush(); print; next }
     /LOG:  duration: .* plan:/ { flush(); sub(/^.*LOG:  /, ""); buf = $0; next }
     /^\t/ && buf != "" { buf = buf "\n" $0; next }
     { flush() }
     END { flush() }' "$log"

echo
echo "== the Overview and Errors aggregates, run directly (mirrors src/Intake.Catalog/SqlCatalog.Operator.cs), beside a GROUP BY over the loads =="
$psql_ <<'SQL'
\echo '-- loads per pipeline and status, from the rollup'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT pipeline, status, CAST(SUM(loads) AS BIGINT) FROM intake_load_counts WHERE customer = 'acme' GROUP BY pipeline, status HAVING SUM(loads) > 0;
\echo '-- the same from the loads (what the rollup replaces)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT pipeline, status, count(*) FROM intake_loads WHERE customer = 'acme' GROUP BY pipeline, status;
\echo '-- pipeline activity: last load, rows and bytes today, errors in the last 24 hours'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT p.pipeline,
       (SELECT h.last_created_at FROM intake_load_hours h WHERE h.pipeline = p.pipeline AND h.customer = p.customer AND h.loads > 0 ORDER BY h.hour DESC LIMIT 1),
       (SELECT CAST(COALESCE(SUM(s.rows_out), 0) AS BIGINT) FROM intake_step_hours s WHERE s.pipeline = p.pipeline AND s.customer = p.customer AND s.step IN ('load', 'module') AND s.hour >= date_trunc('day', now(), 'UTC')),
       (SELECT CAST(COALESCE(SUM(s.bytes_in), 0) AS BIGINT) FROM intake_step_hours s WHERE s.pipeline = p.pipeline AND s.customer = p.customer AND s.step IN ('load', 'module') AND s.hour >= date_trunc('day', now(), 'UTC')),
       (SELECT COUNT(*) FROM intake_loads l WHERE l.status = 'errored' AND l.pipeline = p.pipeline AND l.customer = p.customer AND l.updated_at >= now() - interval '24 hours')
FROM (SELECT DISTINCT pipeline, customer FROM intake_load_counts WHERE loads > 0) p;
\echo '-- rows today from the step records (what the rollup replaces)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT l.pipeline, sum(s.rows_out) FROM intake_steps s JOIN intake_loads l ON l.id = s.load_id
WHERE s.step IN ('load', 'module') AND s.outcome = 'succeeded' AND s.finished_at >= date_trunc('day', now(), 'UTC') GROUP BY l.pipeline;
\echo '-- rows per pipeline and hour, last 7 days'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT pipeline, hour, CAST(SUM(rows_out) AS BIGINT) FROM intake_step_hours
WHERE step IN ('load', 'module') AND hour >= date_trunc('hour', now() - interval '7 days', 'UTC') GROUP BY pipeline, hour HAVING SUM(rows_out) > 0;
\echo '-- errored loads by pipeline and kind, with oldest, newest and a sample'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF)
SELECT c.pipeline, c.error_kind, c.loads,
       (SELECT l.updated_at FROM intake_loads l WHERE l.status = 'errored' AND l.pipeline = c.pipeline AND l.customer = c.customer AND l.error_kind = c.error_kind ORDER BY l.updated_at, l.id LIMIT 1),
       (SELECT l.updated_at FROM intake_loads l WHERE l.status = 'errored' AND l.pipeline = c.pipeline AND l.customer = c.customer AND l.error_kind = c.error_kind ORDER BY l.updated_at DESC, l.id DESC LIMIT 1),
       (SELECT l.id FROM intake_loads l WHERE l.status = 'errored' AND l.pipeline = c.pipeline AND l.customer = c.customer AND l.error_kind = c.error_kind ORDER BY l.updated_at DESC, l.id DESC LIMIT 1),
       (SELECT l.error_message FROM intake_loads l WHERE l.status = 'errored' AND l.pipeline = c.pipeline AND l.customer = c.customer AND l.error_kind = c.error_kind ORDER BY l.updated_at DESC, l.id DESC LIMIT 1)
FROM intake_load_counts c WHERE c.status = 'errored' AND c.loads > 0 AND c.error_kind <> '';
\echo '-- the rollups against the loads and steps (must print two zeros)'
SELECT count(*) FROM (SELECT pipeline, customer, status, COALESCE(error_kind, '') AS k, count(*) AS n FROM intake_loads GROUP BY 1, 2, 3, 4) a
FULL JOIN (SELECT * FROM intake_load_counts WHERE loads <> 0) b ON (a.pipeline, a.customer, a.status, a.k) = (b.pipeline, b.customer, b.status, b.error_kind)
WHERE a.n IS DISTINCT FROM b.loads;
SELECT count(*) FROM (SELECT l.pipeline, l.customer, s.step, date_trunc('hour', s.finished_at, 'UTC') AS hour, sum(COALESCE(s.rows_out, 0)) FILTER (WHERE s.outcome = 'succeeded') AS r
                      FROM intake_steps s JOIN intake_loads l ON l.id = s.load_id WHERE s.outcome <> 'running' GROUP BY 1, 2, 3, 4) a
FULL JOIN intake_step_hours b ON (a.pipeline, a.customer, a.step, a.hour) = (b.pipeline, b.customer, b.step, b.hour)
WHERE COALESCE(a.r, 0) IS DISTINCT FROM b.rows_out;
SQL
