#!/usr/bin/env bash
# Decisions: every request an agent makes is decided against its charter, with the reasons.
set -euo pipefail
say() { printf '\n'; for line in "$@"; do printf '\033[2m# %s\033[0m\n' "$line"; done; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "organisation-wide deny rules and what each directory group may do, from files under version control"
run charter policy apply examples/policy/org-policy.yaml
run charter roles apply examples/policy/roles.yaml

say "what support-summarizer may do, system by system, and what stops it"
run charter explain --agent support-summarizer

AT=2026-11-02T10:00:00Z  # a Monday, 11:00 in Berlin: inside support-summarizer's office hours
say "may support-summarizer read ticket 4711? (decided as of $AT)"
CONTEXT='{"data": {"classification": "internal"}}'
echo "\$ charter check --agent support-summarizer --action tickets.read --resource zendesk:tickets/4711 --context '$CONTEXT' --at $AT"
charter check --agent support-summarizer --action tickets.read --resource zendesk:tickets/4711 \
  --context "$CONTEXT" --at "$AT"
say "the same request, without saying how the ticket is classified: its charter denies restricted" \
    "tickets, and a deny that cannot be ruled out applies — Charter fails closed"
run charter check --agent support-summarizer --action tickets.read --resource zendesk:tickets/4711 --at "$AT"
say "code-reviewer reviews pull requests but never merges"
run charter check --agent code-reviewer --action github.pulls.merge --resource github:acme/platform-api

say "the same questions in-process (charter.decide), as an SDK or a gateway asks them — microseconds each"
python - "$AT" <<'PY'
import datetime as dt
import sys

import charter

at = dt.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
internal = {"data": {"classification": "internal"}}
cases = [
    ("support-summarizer", "tickets.read", "zendesk:tickets/4711", internal, None, at),
    ("support-summarizer", "tickets.read", "zendesk:tickets/4711", internal, None, at + dt.timedelta(days=5)),
    ("support-summarizer", "tickets.read", "zendesk:tickets/4711", internal, "maria.garcia@acme.example", at),
    ("support-summarizer", "slack.post_message", "slack:channels/support-digest", internal, "noah.smith@acme.example", at),
    ("support-summarizer", "tickets.read", "zendesk:tickets/4711", internal, "priya.nair@acme.example", at),
    ("support-summarizer", "tickets.read", "zendesk:tickets/4711", internal, "tom.keller@acme.example", at),
    ("finance-reconciler", "stripe.refunds.create", "stripe:acct_acme/charges/ch_1",
     {"args": {"amount": 120, "currency": "EUR"}, "source_ip": "10.20.4.7"}, None, at),
    ("finance-reconciler", "stripe.refunds.create", "stripe:acct_acme/charges/ch_1",
     {"args": {"amount": 900, "currency": "EUR"}, "source_ip": "10.20.4.7"}, None, at),
    ("finance-reconciler", "stripe.payouts.create", "stripe:acct_acme/payouts", {}, None, at),
    ("code-reviewer", "github.pulls.read", "github:acme/platform-api", {}, None, at),
    ("code-reviewer", "iam.roles.update", "aws:123456789012/roles/ci", {}, None, at),
    ("release-notes-writer", "github.pulls.read", "github:acme/platform-api", {}, None, at),
]
for agent, action, resource, context, person, moment in cases:
    decision = charter.decide(agent, action, resource, context=context, on_behalf_of=person, at=moment)
    who = f"{agent}" + (f" for {person.split('@')[0]}" if person else "")
    when = "" if moment == at else " (Saturday)"
    verdict = "\033[32mALLOW\033[0m" if decision.allowed else "\033[31mDENY \033[0m"
    why = ", ".join(decision.codes)
    if decision.allowed:
        why = decision.rule + (f" ∩ {decision.role}" if decision.role else "")
    print(f"{verdict} {who:<35} {action:<22} {resource:<32}{when}  {why}")
PY

say "the same policy as Cedar (policies, schema, entities) for review or for another engine"
run charter export cedar --out "$CHARTER_HOME/cedar"
grep -A3 '@id("charter/code-reviewer/deny/0")' "$CHARTER_HOME/cedar/policies.cedar"
