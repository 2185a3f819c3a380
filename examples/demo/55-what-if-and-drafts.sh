#!/usr/bin/env bash
# Intent: what-if before a change applies, and a charter drafted from what a shadow agent did.
set -euo pipefail
say() { printf '\n'; for line in "$@"; do printf '\033[2m# %s\033[0m\n' "$line"; done; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "some recorded traffic: code-reviewer comments on pull requests; the shadow agent" \
    "ai-helpdesk-bot (discovered, not registered: denied) reads tickets"
python - <<'PY'
import charter

for n in range(3):
    charter.decide("code-reviewer", "github.pulls.comment", "github:acme/platform-web")
for n in range(25):
    charter.decide("ai-helpdesk-bot", "tickets.read", f"zendesk:tickets/{4700 + n}")
PY

say "a new charter version without comments: what would it have denied in the last 30 days?"
sed 's/"github.pulls.comment"/"github.pulls.approve"/' examples/agents/code-reviewer.yaml \
  > "$CHARTER_HOME/code-reviewer-v2.yaml"
run charter what-if "$CHARTER_HOME/code-reviewer-v2.yaml"
say "applying it asks first: in a script, exit 2 and nothing changes until --yes"
run charter agent update "$CHARTER_HOME/code-reviewer-v2.yaml" || echo "exit $?"

say "a least-privilege charter drafted from what the shadow agent did, evidence per rule"
run charter draft ai-helpdesk-bot --out "$CHARTER_HOME/ai-helpdesk-bot.yaml"
sed -n '/^allow:/,/^delegation:/p' "$CHARTER_HOME/ai-helpdesk-bot.yaml"
