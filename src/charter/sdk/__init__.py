"""Charter's SDK for agents: credentials (this issue) and, later, a guard.

``AgentCredentials`` holds an agent's key and gets it short-lived tokens;
``TokenVerifier`` checks those tokens on a resource server.
"""

from __future__ import annotations

from charter.sdk.credentials import AccessToken, AgentCredentials, TokenError, TokenVerifier

__all__ = ["AccessToken", "AgentCredentials", "TokenError", "TokenVerifier"]
from charter.sdk.guard import AccessDenied, Guard, acting_for, configure, guard  # noqa: F401 (issue 8: the guard)
