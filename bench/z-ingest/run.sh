#!/usr/bin/env bash
# Benchmark of the HTTP source against the local test API (page size 100), in one run:
#   records/s of `intake backfill` (pull only) with 0 ms and 20 ms of added latency, one and four event types at
#   once, the peak memory (max RSS) of a day of 1M records, and a bare-tools baseline on the same API and pages:
#   curl (one process, keep-alive, page-number URLs) | jq -c '.data[]' | gzip.
#   bench/z-ingest/run.sh [RECORDS_FAST] [RECORDS_SLOW] [RECORDS_MEMORY]   (default 100000 20000 1000000)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
fast=${1:-100000}; slow=${2:-20000}; big=${3:-1000000}
port=${BENCH_API_PORT:-18199}
work=$(mktemp -d /tmp/intake-zbench-XXXX)
api=""
stop_api() { if [ -n "$api" ]; then kill "$api" 2>/dev/null || true; wait "$api" 2>/dev/null || true; api=""; fi; }
trap 'stop_api; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

dotnet build "$repo/src/Intake.Cli" -c Release -v q -nologo >/dev/null
dotnet build "$repo/tools/Intake.TestApi" -c Release -v q -nologo >/dev/null
cli="$repo/src/Intake.Cli/bin/Release/net10.0/intake.dll"
apidll="$repo/tools/Intake.TestApi/bin/Release/net10.0/Intake.TestApi.dll"
base="http://127.0.0.1:$port"

start_api() { # records latency_ms
  stop_api
  dotnet "$apidll" --port "$port" --records "$1" --latency-ms "$2" --api-key bench-key >"$work/api.log" 2>&1 &
  api=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "$base/" && return; sleep 0.1; done
  echo "test API did not start" >&2; exit 1
}

project() { # dir events
  rm -rf "$1"; mkdir -p "$1/pipelines"
  cat > "$1/intake.yaml" <<YAML
catalog: { kind: sqlite, path: .intake/catalog.db }
stores: { local: { kind: local, root: .intake/store } }
YAML
  echo "API_KEY=bench-key" > "$1/.env"
  cat > "$1/pipelines/events.yaml" <<YAML
name: events
source:
  kind: http
  url: $base/v1/events
  query: { type: "{event}", day: "{day}", limit: "{limit}" }
  auth: { header: X-Api-Key, key: "\${API_KEY}" }
  events: [$2]
  page_size: 100
  page_size_min: 10
  page_size_max: 100
  pagination: { style: cursor, has_more: has_more }
  parallel: 4
  roll_every: 100000
steps: [pull]
YAML
}

now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1])/float(sys.argv[2]):,.0f}')" "$1" "$2"; }

intake_run() { # records events(csv) -> prints seconds; peak RSS (KB) in $work/rss
  local dir="$work/p"; project "$dir" "$2"
  local t0; t0=$(now)
  /usr/bin/time -f "%M" -o "$work/rss" dotnet "$cli" backfill events --from 2024-01-10 --to 2024-01-10 --config "$dir" --json >"$work/out.json" 2>"$work/err.log"
  local t1; t1=$(now)
  grep -q '"errored":0' "$work/out.json" || { echo "intake run failed:" >&2; cat "$work/out.json" "$work/err.log" >&2; exit 1; }
  python3 -c "print(float('$t1')-float('$t0'))"
}

baseline_run() { # records events(csv) -> prints seconds
  local pages=$(( ($1 + 99) / 100 ))
  local t0; t0=$(now)
  local pids=()
  IFS=, read -ra evs <<<"$2"
  for e in "${evs[@]}"; do
    e=${e// /}
    ( curl -sf -H "X-Api-Key: bench-key" "$base/v1/events/pages?type=$e&day=2024-01-10&limit=100&page=[1-$pages]" | jq -c '.data[]' | gzip -1 >"$work/base-$e.ndjson.gz" ) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  local t1; t1=$(now)
  for e in "${evs[@]}"; do e=${e// /}; n=$(zcat "$work/base-$e.ndjson.gz" | wc -l); [ "$n" -eq "$1" ] || { echo "baseline got $n records of $e" >&2; exit 1; }; done
  python3 -c "print(float('$t1')-float('$t0'))"
}

printf '| latency | event types | records | intake records/s | curl+jq+gzip records/s | intake peak RSS |\n|---|---|---|---|---|---|\n'
for latency in 0 20; do
  n=$fast; [ "$latency" -eq 0 ] || n=$slow
  start_api "$n" "$latency"
  for events in "charge" "charge, refund, dispute, customer"; do
    k=$(awk -F, '{print NF}' <<<"$events")
    total=$(( n * k ))
    s=$(intake_run "$n" "$events"); r=$(( $(cat "$work/rss") / 1024 ))
    b=$(baseline_run "$n" "$events")
    printf '| %s ms | %s | %s | %s | %s | %s MB |\n' "$latency" "$k" "$total" "$(rate $total "$s")" "$(rate $total "$b")" "$r"
  done
done

start_api "$big" 0
s=$(intake_run "$big" "charge"); r=$(( $(cat "$work/rss") / 1024 ))
printf '\nOne day of %s records, one event type, 0 ms: %s records/s, peak RSS %s MB (target: at most 200 MB).\n' "$big" "$(rate "$big" "$s")" "$r"
b=$(baseline_run "$big" "charge")
printf 'Baseline on the same day: %s records/s.\n' "$(rate "$big" "$b")"
