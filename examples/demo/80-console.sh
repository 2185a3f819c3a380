#!/usr/bin/env bash
# The console: a demo admin to sign in with, and a PEP key for the AuthZEN endpoints.
set -euo pipefail
EMAIL="admin@acme.example"
PASSWORD="${CHARTER_DEMO_PASSWORD:-$(python3 -c 'import secrets; print("demo-" + secrets.token_urlsafe(9))')}"
echo "\$ charter users add $EMAIL --role admin --password …"
charter users add "$EMAIL" --role admin --name "Demo Admin" --password "$PASSWORD"
echo "\$ charter users add maria.garcia@acme.example --role owner    # she sees only her agents"
charter users add maria.garcia@acme.example --role owner --password "$PASSWORD"
echo "\$ charter pep add demo-gateway"
KEY="$(charter pep add demo-gateway --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
umask 077
printf '%s\n' "$KEY" > "$CHARTER_HOME/demo-pep-key"
cat > "$CHARTER_HOME/console-sign-in.txt" <<TXT
Console:   http://127.0.0.1:${CHARTER_PORT:-8000}/
Sign in:   $EMAIL  /  $PASSWORD   (admin; maria.garcia@acme.example has the same password, as an owner)
PEP key:   $CHARTER_HOME/demo-pep-key
TXT
echo
echo "Sign in to the console as  $EMAIL  with password  $PASSWORD"
echo "(maria.garcia@acme.example, same password, is an owner: she sees only her own agents)"
echo
echo "AuthZEN needs the PEP key as a bearer token (saved in $CHARTER_HOME/demo-pep-key):"
cat <<TXT
  curl -s http://127.0.0.1:${CHARTER_PORT:-8000}/access/v1/evaluation \\
    -H "Authorization: Bearer \$(cat $CHARTER_HOME/demo-pep-key)" -H 'content-type: application/json' \\
    -d '{"subject": {"type": "agent", "id": "support-summarizer"},
         "action": {"name": "tickets.read"}, "resource": {"type": "zendesk", "id": "tickets/4711"}}'
TXT
echo "The management API (/v1) takes a personal token:  charter api-tokens create --user $EMAIL"
