#!/usr/bin/env bash
# Discovery II: every non-human identity across cloud, identity providers and SaaS, mapped.
set -euo pipefail
echo "\$ charter discover all examples/estate      # AWS, GCP, Entra, Okta, GitHub, Workspace, Slack, Kubernetes"
charter discover all examples/estate
echo
echo "\$ charter discover all examples/estate --json   # the same exports again: nothing changes, no audit events"
charter discover all examples/estate --json | python3 -c '
import json, sys
report = json.load(sys.stdin)
changed = [b["source"] + ":" + b["account"] for b in report["batches"]
           if any(b[k]["created"] or b[k]["updated"] or b[k]["gone"] for k in ("identities", "credentials", "grants"))]
print("batches changed on re-ingest:", changed or "none")'
echo
echo "\$ charter shadow list      # AI identities nobody registered"
charter shadow list
echo
echo "\$ charter map --agent finance-reconciler      # its blast radius, every edge with its reason"
charter map --agent finance-reconciler
echo
echo "\$ charter map --shared      # one secret, several places"
charter map --shared
echo
echo "\$ charter map --svg \$CHARTER_HOME/map.svg"
charter map --svg "$CHARTER_HOME/map.svg" >/dev/null
echo "the map is at $CHARTER_HOME/map.svg (open it in a browser; hover boxes and arrows to see why)"
