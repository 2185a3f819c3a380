#!/usr/bin/env bash
# The README's first walk-through as a script that checks itself: every step's exit
# status and the line that matters (ALLOW, DENY and its reason, an active token, ...).
#
#   examples/walkthrough.sh                      # a fresh store in a temporary directory
#   CHARTER_HOME=/tmp/try examples/walkthrough.sh  # or here (it must not hold a store yet)
#
# Steps 3, 6 and 7 need Charter's HTTP server: the script starts `charter serve` in the
# background on a free port, prints its address, and stops it (and the gateway) at the end.
# Between the README markers below is the README's walk-through, word for word (a test
# compares them). Run it from anywhere; it works in the repository after `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
case ":$PATH:" in *":$PWD/.venv/bin:"*) ;; *) export PATH="$PWD/.venv/bin:$PATH" ;; esac
unset CHARTER_DATABASE_URL CHARTER_URL CHARTER_PEP_KEY CHARTER_AGENT
export CHARTER_HOME="${CHARTER_HOME:-$(mktemp -d "${TMPDIR:-/tmp}/charter-walkthrough.XXXXXX")}"
if [ -e "$CHARTER_HOME/charter.db" ]; then
  echo "error: CHARTER_HOME: $CHARTER_HOME already holds a store; the walk-through needs a fresh one" >&2
  exit 2
fi
mkdir -p -m 700 "$CHARTER_HOME"

# -- helpers ---------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
GATEWAY_PORT=$(free_port)
export CHARTER_ISSUER="http://127.0.0.1:$PORT"   # tokens name it; agents address it
PIDS=()
stop_servers() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT
step() { printf '\n\033[1m== %s\033[0m  (%ss)\n' "$*" "$SECONDS"; }
failed() { printf '\033[31mwalkthrough: %s\033[0m\n' "$*" >&2; exit 1; }
# show COMMAND...: print it as you would type it (quoted where needed; tokens shortened)
show() {
  local line='$' arg
  for arg in "$@"; do
    if [[ "$arg" =~ ^eyJ[A-Za-z0-9_.-]{40,}$ ]]; then line+=" ${arg:0:11}…"
    elif [[ "$arg" =~ ^[][A-Za-z0-9_./:@%+=,{}*-]+$ ]]; then line+=" $arg"
    else line+=" '${arg//\'/\'\\\'\'}'"; fi
  done
  printf '%s\n' "$line"
}
# expect [--exit N] TEXT COMMAND...: run COMMAND, show its output; it must exit N (default 0)
# and print TEXT somewhere, or the walk-through stops there.
expect() {
  local code=0
  if [ "$1" = --exit ]; then code=$2; shift 2; fi
  local text=$1; shift
  show "$@"
  local out status=0
  out=$("$@" 2>&1) || status=$?
  printf '%s\n' "$out"
  [ "$status" -eq "$code" ] || failed "exit $status (expected $code): $*"
  [[ "$out" == *"$text"* ]] || failed "no '$text' in the output of: $*"
}
# in_background NAME URL COMMAND...: start a server, wait (up to 30 s) until URL answers.
in_background() {
  local name=$1 url=$2; shift 2
  show "$@" && printf '  (in the background)\n'
  "$@" >"$CHARTER_HOME/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do
    curl -fs "$url" >/dev/null 2>&1 && { echo "  $name is up: ${url%/healthz}"; return 0; }
    sleep 0.1
  done
  cat "$CHARTER_HOME/$name.log" >&2
  failed "$name did not start"
}

# -- README: begin ---------------------------------------------------------------------------
step "0. The store: which one, and where it came from"
expect "CHARTER_HOME=$CHARTER_HOME" charter status

step "1. Registry: people, agents with charters, lifecycle, a hash-chained audit log"
expect "imported" charter people import examples/people.json
expect "registered support-summarizer" charter agent register examples/agents/support-summarizer.yaml
expect "active" charter agent activate support-summarizer --reason "approved in SEC-101"
expect "support-summarizer" charter agent list        # --json, --owner, --state, --label
expect "intact" charter audit verify

step "2. Decisions: the charter is the policy (also AuthZEN over HTTP)"
expect "applied" charter policy apply examples/policy/org-policy.yaml
expect "applied" charter roles apply examples/policy/roles.yaml
# tickets.read has a schedule (Mon-Fri 06:00-20:00 Europe/Berlin), so the time matters:
# --at asks as of a weekday morning, whatever day you run this (without it: now).
expect "ALLOW" charter check --agent support-summarizer --action tickets.read \
  --resource zendesk:tickets/4711 --context '{"data": {"classification": "internal"}}' \
  --at "next monday 10:00 Europe/Berlin"
expect "outside_schedule" charter check --agent support-summarizer --action tickets.read \
  --resource zendesk:tickets/4711 --context '{"data": {"classification": "internal"}}' \
  --at "next sunday 10:00 Europe/Berlin"
# without the context, a deny Charter cannot rule out (restricted tickets) applies
expect "explicitly_denied" charter check --agent support-summarizer --action tickets.read \
  --resource zendesk:tickets/4711 --at "next monday 10:00 Europe/Berlin"
expect "explicitly_denied" charter check --agent support-summarizer --action tickets.delete \
  --resource zendesk:tickets/4711
expect "zendesk" charter explain --agent support-summarizer

step "3. Credentials: the agent's own key, a short-lived token, introspection, revocation"
expect "enrolled" charter agent enroll support-summarizer --generate \
  --out "$CHARTER_HOME/support-summarizer.pem"
# the token endpoint is HTTP: start Charter's server in the background
in_background charter-serve "$CHARTER_ISSUER/healthz" charter serve --port "$PORT"
# the agent asks for a token with its own key (private_key_jwt), through the SDK
TOKEN=$(python -c 'import sys; from charter.sdk import AgentCredentials
creds = AgentCredentials.from_pem_file("support-summarizer", sys.argv[1], base_url=sys.argv[2])
print(creds.token("tickets.read").value)' "$CHARTER_HOME/support-summarizer.pem" "$CHARTER_ISSUER")
expect '"active": true' charter tokens introspect "$TOKEN"
expect "revoked" charter tokens revoke "$TOKEN"
expect --exit 1 '"active": false' charter tokens introspect "$TOKEN"   # exit 1: inactive

step "4. Discovery: secrets, MCP configs and agent code; then every NHI across cloud and SaaS"
expect --exit 1 "finding" charter discover fs examples/workstation   # exit 1: (fake) keys found
# register finance-reconciler before discovery, so its identities are attributed to it
expect "registered finance-reconciler" charter agent register examples/agents/finance-reconciler.yaml
expect "active" charter agent activate finance-reconciler --reason "approved in SEC-102"
expect "aws" charter discover all examples/estate   # AWS, GCP, Entra, Okta, GitHub, Slack, k8s...
expect "" charter shadow list                       # AI identities nobody registered
expect "finance-reconciler" charter map --agent finance-reconciler   # every edge says why
expect "" charter map --svg "$CHARTER_HOME/map.svg"

step "5. Governance: findings, posture"
expect "" charter findings --severity high --limit 10   # --json, --format sarif|ocsf
expect "" charter posture --by owner

step "6. Enforcement: the SDK guard in-process, the MCP gateway in front of an MCP server"
expect "DENIED" python examples/sdk/guard_example.py   # finance-reconciler, registered above
# the gateway's agent is registered, active and enrolled before the gateway starts
expect "registered helpdesk-assistant" charter agent register examples/gateway/helpdesk-assistant.yaml
expect "active" charter agent activate helpdesk-assistant --reason "approved in SEC-214"
expect "enrolled" charter agent enroll helpdesk-assistant --generate \
  --out "$CHARTER_HOME/helpdesk-assistant.pem"
in_background charter-gateway "http://127.0.0.1:$GATEWAY_PORT/healthz" \
  charter gateway --config examples/gateway/gateway.yaml --port "$GATEWAY_PORT"
expect "read_ticket 4711 → allowed" python examples/gateway/agent_client.py \
  --charter "$CHARTER_ISSUER" --gateway "http://127.0.0.1:$GATEWAY_PORT/mcp" \
  --agent helpdesk-assistant --key "$CHARTER_HOME/helpdesk-assistant.pem"

step "7. The console and the API (the server from step 3)"
expect "you@acme.example" charter users add you@acme.example --role admin \
  --password "walkthrough-$RANDOM-$RANDOM"
expect "200" curl -s -o /dev/null -w '%{http_code}\n' "$CHARTER_ISSUER/docs"
echo "console: $CHARTER_ISSUER/  OpenAPI: $CHARTER_ISSUER/docs  (stopped when this script ends)"
# -- README: end -----------------------------------------------------------------------------

step "Done in ${SECONDS}s: every step passed (store: $CHARTER_HOME)"
