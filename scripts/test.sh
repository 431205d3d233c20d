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
if ! dotnet build Intake.sln -c Debug --nologo -v quiet -clp:ErrorsOnly > "$log" 2>&1; then
  cat "$log"; rm -f "$log"
  echo "0 passed, 1 failed"
  exit 1
fi
# The default console logger prints one summary line per test project
# ("Passed!  - Failed: 0, Passed: 20, Skipped: 0, ...") and every failing test with its message.
dotnet test Intake.sln --no-build -c Debug --nologo 2>&1 | tee "$log" | grep -vE "^\s*(Passed|Skipped) " || true
summary() { grep -E "(Passed|Failed)! +- " "$log" | grep -oE "$1: +[0-9]+" | awk '{s+=$2} END {print s+0}'; }
passed=$(summary Passed)
failed=$(summary Failed)
skipped=$(summary Skipped)
summaries=$(grep -cE "(Passed|Failed)! +- " "$log")
projects=$(ls tests/*/*.csproj | wc -l)
rm -f "$log"
if [ "$summaries" -lt "$projects" ]; then
  echo "test.sh: only $summaries of $projects test projects reported results" >&2
  failed=$((failed + projects - summaries))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
