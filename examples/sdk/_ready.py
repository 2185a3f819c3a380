"""Stop an example with one line when its agent is not there to decide for.

Every call of an unregistered (or inactive) agent is denied, so an example run on
a fresh store would only print denials; this says what to run first instead. The
question is asked ``at`` now, which Charter answers without recording it: asking
whether the agent exists is not something the agent did.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import charter

MISSING = {"unknown_agent", "agent_not_active"}


def require_agent(agent: str, action: str, resource: str) -> None:
    """Exit 2 with one line unless ``agent`` is registered and active in CHARTER_HOME's store.

    With ``CHARTER_URL`` (decisions asked of a server) there is nothing to look at
    here: the server's denials say the same, one per call.
    """
    if os.environ.get("CHARTER_URL"):
        return
    decision = charter.decide(agent, action, resource, at=dt.datetime.now(dt.UTC))
    codes = {reason.code.value for reason in decision.reasons}
    if MISSING & codes:
        where = os.environ.get("CHARTER_HOME") or "the default home"
        print(
            f"error: agent: {agent} is not registered and active in the store at {where} "
            f"({', '.join(sorted(MISSING & codes))}); 'charter status' shows it. Run "
            "examples/walkthrough.sh first (same CHARTER_HOME), or "
            f"charter agent register examples/agents/{agent}.yaml && "
            f"charter agent activate {agent} --reason ...",
            file=sys.stderr,
        )
        sys.exit(2)
