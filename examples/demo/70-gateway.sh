#!/usr/bin/env bash
# The MCP gateway: every tool call an agent makes asks Charter first.
set -euo pipefail
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
CHARTER_PORT=$(free_port)
GATEWAY_PORT=$(free_port)
export CHARTER_ISSUER="http://127.0.0.1:$CHARTER_PORT"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT/mcp"
KEY="$CHARTER_HOME/helpdesk-assistant.pem"
rm -f "$KEY"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
wait_for() {  # URL, what — at most 30 s
  for _ in $(seq 300); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$2 did not start; see $CHARTER_HOME/*.log" >&2
  exit 1
}

echo "\$ charter agent register examples/gateway/helpdesk-assistant.yaml && charter agent activate helpdesk-assistant"
charter agent register examples/gateway/helpdesk-assistant.yaml >/dev/null
charter agent activate helpdesk-assistant --reason "approved in security review SEC-214" >/dev/null
charter agent enroll helpdesk-assistant --generate --out "$KEY" >/dev/null
echo "  active, with an enrolled key ($KEY)"

charter serve --port "$CHARTER_PORT" --log-level warning >"$CHARTER_HOME/gateway-demo-charter.log" 2>&1 &
PIDS+=($!)
echo "\$ charter gateway --config examples/gateway/gateway.yaml --port $GATEWAY_PORT"
charter gateway --config examples/gateway/gateway.yaml --port "$GATEWAY_PORT" \
  >"$CHARTER_HOME/gateway-demo.log" 2>&1 &
PIDS+=($!)
wait_for "$CHARTER_ISSUER/healthz" "charter serve"
wait_for "http://127.0.0.1:$GATEWAY_PORT/healthz" "charter gateway"
head -1 "$CHARTER_HOME/gateway-demo.log" | sed 's/^/  /'

echo
echo "# without a token the gateway answers as the MCP authorization spec says:"
curl -s -o /dev/null -D - -X POST "$GATEWAY" -H 'Content-Type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' | grep -iE '^(HTTP|www-authenticate)' | sed 's/^/  /'

echo
echo "# the agent (examples/gateway/agent_client.py): its own token, a real MCP session"
timeout 60 python examples/gateway/agent_client.py --charter "$CHARTER_ISSUER" --gateway "$GATEWAY" \
  --agent helpdesk-assistant --key "$KEY"

echo
echo "# every call is Activity (agent, tool, decision, latency):"
python - <<'PY'
import time
import sqlalchemy as sa
from charter.services.context import process_services
from charter.store import schema

time.sleep(0.5)  # the gateway writes activity in batches
services = process_services()
a = schema.activities
with services.db.read() as connection:
    rows = connection.execute(
        sa.select(a.c.agent, a.c.action, a.c.allowed, a.c.latency_us)
        .where(a.c.source == "gateway").order_by(a.c.id)
    ).all()
for agent, action, allowed, latency in rows:
    print(f"  {agent:<20} {action:<15} {'allowed' if allowed else 'DENIED ':<8} {latency or 0:>8.0f} µs")
PY
