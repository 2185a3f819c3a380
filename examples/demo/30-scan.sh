#!/usr/bin/env bash
# Discovery I: scan a developer's workstation for keys, MCP servers and agent code.
set -euo pipefail
scan=(charter discover fs)
echo "\$ charter discover fs examples/workstation"
# Exit status 1 means "new findings" — expected here: the folder is full of (fake) keys.
"${scan[@]}" examples/workstation || [ $? -eq 1 ]
echo
echo "\$ charter discover fs examples/workstation --format json --no-record   # for pipelines; its summary:"
"${scan[@]}" examples/workstation --format json --no-record \
  | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["summary"], indent=2))' || true
