#!/usr/bin/env bash
# Chromium for the operator UI's browser tests (tests/Intake.Server.UiTests drives it with Microsoft.Playwright).
#   scripts/servers/chromium.sh install   install Debian's chromium when missing (root); never a browser Playwright downloads
#   scripts/servers/chromium.sh start     nothing to start (each test run launches its own headless browser);
#                                         prints 'export INTAKE_TEST_CHROMIUM=<executable>' when it is installed
#   scripts/servers/chromium.sh stop      nothing to stop
set -euo pipefail
BIN=${INTAKE_TEST_CHROMIUM:-/usr/bin/chromium}

case "${1:-}" in
  install)
    if [ ! -x "$BIN" ]; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends chromium >/dev/null
    fi
    ;;
  start)
    [ -x "$BIN" ] || { echo "chromium.sh: Chromium is not installed at $BIN; run '$0 install' as root" >&2; exit 1; }
    # A browser that cannot start here would fail every UI test with a less clear message: check it once.
    "$BIN" --headless --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null 2>&1 \
      || { echo "chromium.sh: $BIN is installed but does not start headless" >&2; exit 1; }
    echo "export INTAKE_TEST_CHROMIUM='$BIN'"
    ;;
  stop) ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
