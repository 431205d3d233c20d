#!/usr/bin/env bash
# The test command: installs what the tests need (PostgreSQL from Debian when missing), starts it on
# 127.0.0.1, runs every test project, stops what it started, and prints the totals as
# "N passed, N failed" on the last line. Exit status: 0 only when every test passed.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
export INTAKE_SERVERS_DIR=${INTAKE_SERVERS_DIR:-/tmp/intake-servers-$$}
mkdir -p "$INTAKE_SERVERS_DIR"
started_pg=""

cleanup() {
  if [ -n "$started_pg" ]; then scripts/postgres.sh stop; fi
  rm -rf "$INTAKE_SERVERS_DIR"
}
trap cleanup EXIT

if [ "$(id -u)" = 0 ]; then
  scripts/postgres.sh install || { echo "test.sh: could not install PostgreSQL" >&2; exit 1; }
fi
# A port of our own, so a developer's server on 55432 is left alone.
export INTAKE_PG_PORT=${INTAKE_PG_PORT:-55433}
if conn=$(scripts/postgres.sh start); then
  started_pg=1
  export INTAKE_TEST_PG="$conn"
else
  echo "test.sh: PostgreSQL did not start; PostgreSQL tests will fail in CI and be skipped elsewhere" >&2
fi

log=$(mktemp)
dotnet build Intake.sln -c Debug --nologo -v quiet 2>&1 | tail -5
dotnet test Intake.sln --no-build -c Debug --nologo --logger "console;verbosity=normal" 2>&1 | tee "$log" | grep -E "^\s*(Failed|Passed!|Failed!|Skipped) |error" || true
passed=$(grep -oE "Passed: +[0-9]+" "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE "Failed: +[0-9]+" "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -oE "Skipped: +[0-9]+" "$log" | awk '{s+=$2} END {print s+0}')
summaries=$(grep -cE "(Passed|Failed)! +-" "$log")
projects=$(ls tests/*/*.csproj | wc -l)
rm -f "$log"
if [ "$summaries" -lt "$projects" ]; then
  echo "test.sh: only $summaries of $projects test projects reported results" >&2
  failed=$((failed + projects - summaries))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
