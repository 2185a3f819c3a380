#!/usr/bin/env bash
# Governance: risk findings over everything discovered, posture, and the lifecycle workflows.
set -euo pipefail
say() { printf '\n'; for line in "$@"; do printf '\033[2m# %s\033[0m\n' "$line"; done; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "findings: every rule over the registry, the estate and the workstation scan (OWASP NHI / Agentic" \
    "Top 10). The store changed since the last evaluation, so it evaluates first."
run charter findings --severity high --limit 12
run charter findings --format sarif --output "$CHARTER_HOME/findings.sarif"

say "posture: a risk score per owner that explains itself"
run charter posture --by owner --limit 5
run charter posture --by owner --explain ada.osei@acme.example

say "an access review: the owner sees current access, last use, findings and the least-privilege" \
    "set computed from activity, and decides keep / reduce / revoke"
CAMPAIGN=$(charter review start --scope agent:support-summarizer --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "\$ charter review start --scope agent:support-summarizer      # → $CAMPAIGN"
run charter review decide "$CAMPAIGN" support-summarizer reduce --plan
run charter review decide "$CAMPAIGN" support-summarizer reduce --by maria.garcia@acme.example \
    --reason "the digest never reads comments"
say "what the review removed is denied at once (and charter v1 is kept)"
run charter check --agent support-summarizer --action tickets.comments.read \
    --resource zendesk:tickets/4711 --context '{"data": {"classification": "internal"}}'

say "just-in-time access: time-boxed, approved by the owner (never by whoever asked), effective at once, gone at its end"
GRANT=$(charter access request finance-reconciler --action ledger.entries.write \
  --resource ledger:books/acme-gmbh --for 30m --reason "month-end correction" --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "\$ charter access request finance-reconciler --action ledger.entries.write … --for 30m   # → $GRANT"
run charter access approve "$GRANT" --by priya.nair@acme.example
run charter check --agent finance-reconciler --action ledger.entries.write --resource ledger:books/acme-gmbh

say "separation of duties: a charter version that widens an active agent's access is a proposal" \
    "until someone else approves it (here: Maria asks for everything on her own agent)"
python3 - "$CHARTER_HOME/wider.json" <<'PY'
import json, subprocess, sys
agent = json.loads(subprocess.run(["charter", "agent", "show", "support-summarizer", "--json"],
                                  capture_output=True, text=True, check=True).stdout)
charter = {**agent["charter"], "allow": [{"action": "*", "resource": "*"}]}
open(sys.argv[1], "w").write(json.dumps(charter))
PY
echo "\$ CHARTER_ACTOR=maria.garcia@acme.example charter agent update wider.json   # allow: * on *"
CHARTER_ACTOR=maria.garcia@acme.example charter agent update "$CHARTER_HOME/wider.json" \
  --reason "just give it everything"
CHANGE=$(charter changes list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
run charter changes list
echo "\$ charter changes approve $CHANGE --by maria.garcia@acme.example   # her own: refused"
charter changes approve "$CHANGE" --by maria.garcia@acme.example || true
run charter changes reject "$CHANGE" --by maria.garcia@acme.example --reason "withdrawn: too broad"

say "the worker: Tom Keller left, so his agent goes to his manager as pending ownership"
run charter worker --once
run charter agent accept release-notes-writer --by ada.osei@acme.example

say "decommissioning plans first: what Charter revokes, and a task for everything elsewhere"
run charter agent decommission code-reviewer --plan
