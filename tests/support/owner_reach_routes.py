"""The route table of the owner-isolation walk (tests/integration/test_owner_reach.py).

Every route an owner may reach is classified here: called with another owner's
objects (:data:`CALLS`), checked for leaks as a listing (:data:`LISTINGS`), or
exempt with a reason (:data:`EXEMPT`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ATTACKER = "priya.nair@acme.example"  # owns finance-reconciler
VICTIM = "maria.garcia@acme.example"  # owns support-summarizer
AGENT = "support-summarizer"
GHOST = "zz-no-such-thing"


@dataclass(frozen=True)
class Call:
    """One request as the attacker with the victim's objects (``{agent}``, ``{finding}``, …)."""

    method: str
    route: str
    path: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None
    expect: int = 404
    #: the same request for the victim must not be a 404 (False for writes that would
    #: destroy what later calls need, or that only admins may make at all)
    control: bool = True


def _transitions() -> list[Call]:
    return [
        Call(
            "POST",
            f"/v1/agents/{{name}}/{t}",
            f"/v1/agents/{{agent}}/{t}",
            {"reason": "x"},
            control=t in ("suspend", "resume"),
        )
        for t in ("propose", "activate", "suspend", "resume", "decommission")
    ]


#: Routes taking an agent, finding, campaign item, request, rotation or task.
CALLS: list[Call] = [
    Call("GET", "/v1/agents", "/v1/agents?owner=" + VICTIM, expect=403),
    Call("GET", "/v1/agents/{name}", "/v1/agents/{agent}"),
    Call(
        "PUT",
        "/v1/agents/{name}/charter",
        "/v1/agents/{agent}/charter",
        {"charter": True},
        control=False,
    ),
    Call("GET", "/v1/agents/{name}/versions", "/v1/agents/{agent}/versions"),
    *_transitions(),
    Call(
        "POST",
        "/v1/agents/{name}/transfer",
        "/v1/agents/{agent}/transfer",
        {"to": ATTACKER},
        control=False,
    ),
    Call("POST", "/v1/agents/{name}/accept", "/v1/agents/{agent}/accept", {}),
    Call("POST", "/v1/agents", "/v1/agents", {"charter": True}, expect=403, control=False),
    Call("GET", "/v1/findings", "/v1/findings?agent={agent}"),
    Call("GET", "/v1/findings", "/v1/findings?owner=" + VICTIM, expect=403),
    Call("GET", "/v1/findings/{finding_id}", "/v1/findings/{finding}"),
    Call("GET", "/v1/findings/{finding_id}", "/v1/findings/{prefix}"),  # a unique id prefix
    Call("POST", "/v1/findings/{finding_id}/acknowledge", "/v1/findings/{finding}/acknowledge", {}),
    Call(
        "POST",
        "/v1/findings/{finding_id}/suppress",
        "/v1/findings/{finding}/suppress",
        {"reason": "x", "for": "1d"},
    ),
    Call("POST", "/v1/findings/{finding_id}/reopen", "/v1/findings/{finding}/reopen", {}),
    Call("POST", "/v1/reviews", "/v1/reviews?plan=true", {"scope": "agent:{agent}"}),
    Call(
        "POST", "/v1/reviews", "/v1/reviews?plan=true", {"scope": "owner:" + VICTIM}, control=False
    ),
    Call(
        "POST", "/v1/reviews", "/v1/reviews", {"scope": "agent:{agent}"}, expect=403, control=False
    ),
    Call("GET", "/v1/reviews/{campaign_id}", "/v1/reviews/{campaign}"),
    Call(
        "POST",
        "/v1/reviews/{campaign_id}/items/{agent}",
        "/v1/reviews/{campaign}/items/{agent}",
        {"decision": "revoke", "plan": True},
    ),
    Call(
        "POST",
        "/v1/reviews/{campaign_id}/items/{agent}",
        "/v1/reviews/{campaign}/items/{agent}",
        {"decision": "keep"},
        control=False,
    ),
    Call(
        "POST",
        "/v1/access-requests",
        "/v1/access-requests",
        {
            "agent": "{agent}",
            "action": "tickets.read",
            "resource": "zendesk:tickets/1",
            "reason": "x",
        },
    ),
    Call("GET", "/v1/access-requests", "/v1/access-requests?agent={agent}"),
    Call(
        "POST",
        "/v1/access-requests/{grant_id}/approve",
        "/v1/access-requests/{grant}/approve",
        {},
        control=False,
    ),
    Call(
        "POST",
        "/v1/access-requests/{grant_id}/deny",
        "/v1/access-requests/{grant}/deny",
        {},
        control=False,
    ),
    Call(
        "POST",
        "/v1/access-requests/{grant_id}/revoke",
        "/v1/access-requests/{grant}/revoke",
        {},
        control=False,
    ),
    Call("GET", "/v1/decommissions/{name}", "/v1/decommissions/{agent}"),
    Call(
        "POST",
        "/v1/decommissions/{name}",
        "/v1/decommissions/{agent}",
        {"reason": "x"},
        control=False,
    ),
    Call("GET", "/v1/rotations", "/v1/rotations?agent={agent}"),
    Call(
        "POST",
        "/v1/rotations/{rotation_id}/start",
        "/v1/rotations/{rotation}/start",
        {},
        control=False,
    ),
    Call(
        "POST",
        "/v1/rotations/{rotation_id}/verify",
        "/v1/rotations/{rotation}/verify",
        {},
        control=False,
    ),
    Call("GET", "/v1/tasks", "/v1/tasks?agent={agent}"),
    Call("GET", "/v1/notices", "/v1/notices?recipient=" + VICTIM, expect=403),
    Call("GET", "/v1/inbox", "/v1/inbox?person=" + VICTIM, expect=403),
    Call("POST", "/v1/tasks/{task_id}/done", "/v1/tasks/{task}/done", {}, control=False),
    Call("GET", "/v1/changes/{change_id}", "/v1/changes/{change}"),
    Call("GET", "/v1/changes/{change_id}", "/v1/changes/{grant}"),  # a JIT request, as a change
    Call(
        "POST", "/v1/changes/{change_id}/approve", "/v1/changes/{change}/approve", {}, control=False
    ),
    Call(
        "POST",
        "/v1/changes/{change_id}/reject",
        "/v1/changes/{change}/reject",
        {"reason": "x"},
        control=False,
    ),
    # the console
    Call("GET", "/agents", "/agents?owner=" + VICTIM, expect=403),
    Call("GET", "/agents/{name}", "/agents/{agent}"),
    Call(
        "POST",
        "/agents/{name}/transition",
        "/agents/{agent}/transition",
        form={"transition": "suspend", "reason": "x"},
        control=False,
    ),
    Call(
        "POST",
        "/agents/{name}/transfer",
        "/agents/{agent}/transfer",
        form={"to": ATTACKER},
        control=False,
    ),
    Call("GET", "/agents/{name}/decommission", "/agents/{agent}/decommission"),
    Call(
        "POST",
        "/agents/{name}/decommission",
        "/agents/{agent}/decommission",
        form={"reason": "x"},
        control=False,
    ),
    Call(
        "POST", "/agents/new", "/agents/new", form={"charter": "victim"}, expect=403, control=False
    ),
    Call("GET", "/findings", "/findings?agent={agent}"),
    Call("GET", "/findings", "/findings?owner=" + VICTIM, expect=403),
    Call("GET", "/findings/{finding_id}", "/findings/{finding}"),
    Call(
        "POST",
        "/findings/{finding_id}/status",
        "/findings/{finding}/status",
        form={"action": "acknowledge"},
        control=False,
    ),
    Call("GET", "/map", "/map?agent={agent}"),
    Call("GET", "/map", "/map?system=aws", expect=403, control=False),
    Call("GET", "/reviews/{campaign}/{agent}", "/reviews/{campaign}/{agent}?decision=revoke"),
    Call(
        "POST",
        "/reviews/{campaign}/{agent}",
        "/reviews/{campaign}/{agent}",
        form={"decision": "keep"},
        control=False,
    ),
    Call("GET", "/decisions", "/decisions?agent={agent}&action=tickets.read&resource=zendesk:x"),
    Call(
        "POST",
        "/changes/{change_id}/approve",
        "/changes/{change}/approve",
        form={"reason": "x"},
        control=False,
    ),
    Call(
        "POST",
        "/changes/{change_id}/reject",
        "/changes/{change}/reject",
        form={"reason": "x"},
        control=False,
    ),
    Call("GET", "/credentials", "/credentials?agent={agent}"),
    Call("GET", "/inbox", "/inbox?person=" + VICTIM, expect=403),
    Call(
        "POST",
        "/approvals/{approval_id}/approve",
        "/approvals/{approval}/approve",
        form={},
        control=False,
    ),
    Call(
        "POST",
        "/approvals/{approval_id}/deny",
        "/approvals/{approval}/deny",
        form={},
        control=False,
    ),
    Call(
        "POST", "/shadow/{name}/adopt", "/shadow/claude/adopt", form={}, expect=403, control=False
    ),
    Call(
        "POST",
        "/shadow/{name}/dismiss",
        "/shadow/claude/dismiss",
        form={},
        expect=403,
        control=False,
    ),
    Call(
        "POST",
        "/reviews/start",
        "/reviews/start",
        form={"scope": "agent:{agent}"},
        expect=403,
        control=False,
    ),
]

#: Routes that take no object: the attacker's answer must not name the victim's objects.
LISTINGS: dict[tuple[str, str], str] = {
    ("GET", "/v1/agents"): "/v1/agents",
    ("GET", "/v1/findings"): "/v1/findings",
    ("POST", "/v1/reviews"): "/v1/reviews?plan=true",  # {"scope": "all"}: only their own
    ("GET", "/v1/reviews"): "/v1/reviews",
    ("GET", "/v1/access-requests"): "/v1/access-requests",
    ("GET", "/v1/rotations"): "/v1/rotations",
    ("GET", "/v1/tasks"): "/v1/tasks",
    ("GET", "/v1/notices"): "/v1/notices",
    ("GET", "/v1/inbox"): "/v1/inbox",
    ("GET", "/v1/changes"): "/v1/changes",
    ("GET", "/"): "/",
    ("GET", "/agents"): "/agents",
    ("GET", "/findings"): "/findings",
    ("GET", "/map"): "/map",
    ("GET", "/reviews"): "/reviews",
    ("GET", "/decisions"): "/decisions",
    ("GET", "/credentials"): "/credentials",
    ("GET", "/changes"): "/changes",
    ("GET", "/inbox"): "/inbox",
    ("GET", "/approvals"): "/approvals",
}

#: Owner-reachable routes that take no other owner's object, and why.
EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/v1/findings/rules"): "the rule catalogue: no estate data",
    ("GET", "/v1/people"): "the directory: owners read it to pick a new owner (by design)",
    ("GET", "/v1/people/{email}"): "the directory: owners read it to pick a new owner",
    ("GET", "/agents/new"): "an empty form",
    ("GET", "/shadow"): "admins and auditors only (require_role): 403 for owners",
    ("GET", "/audit"): "admins and auditors only (require_role): 403 for owners",
    ("GET", "/what-if"): "admins only (require_role): 403 for owners",
    ("GET", "/discovery"): "admins and auditors only (require_role): 403 for owners",
    ("POST", "/what-if"): "admins only (require_role): 403 for owners",
    ("GET", "/login"): "signing in (open zone)",
    ("POST", "/login"): "signing in (open zone)",
    ("POST", "/logout"): "ends the caller's own session",
    ("GET", "/login/oidc"): "signing in (open zone)",
    ("GET", "/login/oidc/callback"): "signing in (open zone)",
}
