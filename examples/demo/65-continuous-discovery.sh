#!/usr/bin/env bash
# Continuous discovery: the worker pulls the sources the governance policy lists, when due.
set -euo pipefail
say() { printf '\n'; for line in "$@"; do printf '\033[2m# %s\033[0m\n' "$line"; done; }
run() { printf '$ %s\n' "$*"; "$@"; }

mkdir -p "$CHARTER_HOME/drop"
cp examples/estate/okta/*.json "$CHARTER_HOME/drop/"
cat > "$CHARTER_HOME/governance.yaml" <<YAML
discovery:
  sources:
    - {name: exports, watch: $CHARTER_HOME/drop, every: 5m}
YAML
say "a watched export directory in the policy's discovery section (cat \$CHARTER_HOME/governance.yaml);" \
    "one worker pass pulls it (these Okta exports were ingested before: records seen, no changes)," \
    "each file once by its SHA-256; the next pass reads nothing until a file is new or changed"
run charter worker --once
run charter discover status
