"""Request dependencies shared by every router."""

from __future__ import annotations

from fastapi import Request

from charter.services.context import Services


def services_dep(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def actor_dep(request: Request) -> str:
    """Who the audit log names for this request (sign-in arrives with the console issue)."""
    principal = getattr(request.state, "principal", None)
    if principal:
        return str(principal)
    client = request.client.host if request.client else "unknown"
    return f"api:{client}"
