#!/usr/bin/env bash
# The z-ingest example in one command: starts the local test API (502 now and then), backfills the last
# seven days of six event types, shows the parts and the table, runs the backfill again (nothing new), stops the API.
#   examples/z-ingest/run.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
port=${ZINGEST_API_PORT:-8099}
export ZINGEST_API_URL="http://127.0.0.1:$port"
cd "$here"
[ -f .env ] || cp .env_template .env

dotnet build "$repo/src/Intake.Cli" -v q -nologo >/dev/null
dotnet build "$repo/tools/Intake.TestApi" -v q -nologo >/dev/null
intake() { dotnet "$repo/src/Intake.Cli/bin/Debug/net10.0/intake.dll" "$@"; }

dotnet "$repo/tools/Intake.TestApi/bin/Debug/net10.0/Intake.TestApi.dll" --port "$port" --records 2000 --fail-every 25 >/tmp/z-ingest-api.log 2>&1 &
api=$!
trap 'kill "$api" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null "$ZINGEST_API_URL/" && break; sleep 0.2; done

from=$(date -u -d '7 days ago' +%F); to=$(date -u -d 'yesterday' +%F)
intake validate
intake backfill events --from "$from" --to "$to"
echo; echo "parts written (first 8):"; (cd .intake/store/raw && find . -name '*.ndjson.gz' | sort | head -8)
echo; echo "audit: records pulled = rows loaded = rows in the table events:"
intake audit
echo; echo "second backfill of the same week: nothing new"
intake backfill events --from "$from" --to "$to" | tail -1
