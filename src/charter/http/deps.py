"""Request dependencies shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from charter.domain.paging import MAX_OFFSET, MAX_SEQ
from charter.services.context import Services

__all__ = ["MAX_SEQ", "Offset", "actor_dep", "services_dep"]

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]


def services_dep(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def actor_dep(request: Request) -> str:
    """Who the audit log names for this request: the signed-in principal, else the client."""
    principal = getattr(request.state, "principal", None)
    if principal:
        return str(principal)
    client = request.client.host if request.client else "unknown"
    return f"api:{client}"
