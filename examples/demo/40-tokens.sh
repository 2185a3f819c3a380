#!/usr/bin/env bash
# Credentials: an agent authenticates as itself and gets a short-lived, scoped token.
set -euo pipefail
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export CHARTER_ISSUER="http://127.0.0.1:$PORT"
KEY="$CHARTER_HOME/support-summarizer.pem"
rm -f "$KEY"

echo "\$ charter agent enroll support-summarizer --generate --out $KEY"
charter agent enroll support-summarizer --generate --out "$KEY"
ls -l "$KEY" | awk '{print "  " $1 "  " $NF}'

charter serve --port "$PORT" --log-level warning >"$CHARTER_HOME/tokens-demo-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "$CHARTER_ISSUER/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo
echo "# the agent asks for a token with its own key (private_key_jwt), through the SDK:"
cat <<'PY'
  creds = AgentCredentials.from_pem_file("support-summarizer", KEY, base_url=CHARTER_ISSUER)
  token = creds.token("tickets.read")
PY
python - "$KEY" <<'PY'
import json, os, sys
from charter.sdk import AgentCredentials, TokenError

creds = AgentCredentials.from_pem_file("support-summarizer", sys.argv[1], base_url=os.environ["CHARTER_ISSUER"])
token = creds.token("tickets.read")
print(f"  token_type={token.token_type}  scope={' '.join(token.scope)}  "
      f"expires in {int(token.expires_at - __import__('time').time())} s")
print("  claims:", json.dumps(token.claims, indent=4).replace("\n", "\n  "))
try:
    creds.token("tickets.delete")
except TokenError as refused:
    print(f"  asking for tickets.delete (not in its charter): {refused.error} — {refused.description}")
open(os.path.join(os.environ["CHARTER_HOME"], "demo-token"), "w").write(token.value)
PY
TOKEN=$(cat "$CHARTER_HOME/demo-token")

echo
echo "\$ charter tokens introspect <token>      # RFC 7662"
charter tokens introspect "$TOKEN" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({k: d[k] for k in ("active","sub","client_id","scope","charter_version")}))'

echo
echo "\$ charter agent suspend support-summarizer --reason 'demo: incident INC-7'"
charter agent suspend support-summarizer --reason "demo: incident INC-7"
echo "\$ charter tokens introspect <token>      # the same token, a second later"
charter tokens introspect "$TOKEN" || true

echo
echo "\$ charter agent resume support-summarizer --reason 'demo: resolved'"
charter agent resume support-summarizer --reason "demo: resolved"
python - "$KEY" "$TOKEN" <<'PY'
import os, sys
from charter.sdk import AgentCredentials

creds = AgentCredentials.from_pem_file("support-summarizer", sys.argv[1], base_url=os.environ["CHARTER_ISSUER"])
print(f"  the old token after resuming:  active={creds.introspect(sys.argv[2])['active']}  "
      "(tokens from before a suspension stay dead)")
print(f"  a fresh token after resuming:  active={creds.introspect(creds.token('tickets.read').value)['active']}")
PY
rm -f "$CHARTER_HOME/demo-token"
echo "(every issuance, refusal and revocation is in the audit log: charter audit list)"
