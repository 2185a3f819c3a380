"""Charter's SDK for agents: credentials and the guard.

``AgentCredentials`` holds an agent's key and gets it short-lived tokens;
``TokenVerifier`` checks those tokens on a resource server; ``guard`` decides
before a tool function runs and raises ``AccessDenied`` with the reasons.
"""

from __future__ import annotations

from charter.sdk.credentials import AccessToken, AgentCredentials, TokenError, TokenVerifier
from charter.sdk.guard import AccessDenied, ApprovalRequired, Guard, acting_for, configure, guard

__all__ = [
    "AccessDenied",
    "AccessToken",
    "AgentCredentials",
    "ApprovalRequired",
    "Guard",
    "TokenError",
    "TokenVerifier",
    "acting_for",
    "configure",
    "guard",
]
