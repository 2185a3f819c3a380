#!/usr/bin/env bash
# Serve the API on the demo store until Ctrl-C (skipped when CHARTER_DEMO_NO_SERVE=1).
set -euo pipefail
if [ "${CHARTER_DEMO_NO_SERVE:-0}" = 1 ]; then
  echo "(CHARTER_DEMO_NO_SERVE=1: not starting the server)"
  exit 0
fi
[ -f "$CHARTER_HOME/console-sign-in.txt" ] && cat "$CHARTER_HOME/console-sign-in.txt"
echo "The console is at http://127.0.0.1:8000/ ; the API at http://127.0.0.1:8000 — OpenAPI at http://127.0.0.1:8000/docs"
echo "The API wants a sign-in: create a personal token with  charter api-tokens create --help  (docs/console.md)"
echo "Stop with Ctrl-C."
exec charter serve --host 127.0.0.1 --port "${CHARTER_PORT:-8000}"
