#!/usr/bin/env bash
# `make demo`: a fresh embedded store, the bundled sample estate, every capability's
# demo step (examples/demo/NN-*.sh, in order), then the API server.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
export CHARTER_HOME="${CHARTER_HOME:-$PWD/.charter/demo}"
export CHARTER_DEMO=1
rm -rf "$CHARTER_HOME"
mkdir -p -m 700 "$CHARTER_HOME"  # the store is private: 0700, as Charter makes it itself
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
bold "Charter demo — store: $CHARTER_HOME/charter.db (SQLite)"
for step in examples/demo/[0-9][0-9]-*.sh; do
  [ -x "$step" ] || continue
  bold "$(basename "$step" .sh | cut -d- -f2- | tr '-' ' ')"
  "$step"
done
