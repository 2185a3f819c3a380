#!/usr/bin/env bash
# Intent: calls held for a person's approval (bound to the exact call), and sub-agents proven
# to be contained in their parent (refused with a counterexample otherwise).
set -euo pipefail
say() { printf '\n'; for line in "$@"; do printf '\033[2m# %s\033[0m\n' "$line"; done; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "refund-bot refunds up to 500 EUR alone, up to 5,000 EUR once its owner approves each refund"
run charter agent register examples/intent/refund-bot.yaml
run charter agent activate refund-bot --reason "approved in SEC-120"

ask() {
  python - <<'PY'
import charter

args = {"charge": "ch_7", "amount": 1200, "currency": "EUR"}
decision = charter.decide(
    "refund-bot", "stripe.refunds.create", "stripe:acct_acme/charges/ch_7", context={"args": args}
)
print("  ->", decision.summary())
PY
}
say "the agent asks to refund 1,200 EUR: held, and an access request names the exact call"
ask
run charter approvals list
ID=$(charter approvals list --json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
say "only the owner approves it (never the agent, never a departed person)"
run charter approvals approve "$ID" --by noah.smith@acme.example || true
run charter approvals approve "$ID" --by priya.nair@acme.example
say "the same call now goes through, once; asked again it is held again"
ask
ask

say "a sub-agent must be contained in its parent: one that only reads charges is"
run charter agent register examples/intent/refund-reader.yaml
say "one that would refund without approval is refused, with a request that proves it"
run charter agent register examples/intent/refund-sprinter.yaml || true
