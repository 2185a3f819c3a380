"""The overview page (placeholder while the page is built)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.web.forms import ConsoleRoute
from charter.web.templating import render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/")
def overview(request: Request) -> Response:
    return render(request, "overview.html", {}, title="Overview")
