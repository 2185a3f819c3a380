#!/usr/bin/env bash
# The registry: people, agents with charters, lifecycle, audit.
set -euo pipefail
echo "\$ charter people import examples/people.json"
charter people import examples/people.json
for file in examples/agents/*.yaml; do
  echo "\$ charter agent register $file"
  charter agent register "$file" || true
done
for agent in support-summarizer finance-reconciler code-reviewer; do
  charter agent activate "$agent" --reason "approved in security review SEC-101"
done
echo "\$ charter agent activate release-notes-writer   # its owner has left: refused"
charter agent activate release-notes-writer --reason "try" || true
echo "\$ charter agent list"
charter agent list
echo "\$ charter audit verify"
charter audit verify
