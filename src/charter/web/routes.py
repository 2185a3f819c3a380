"""The console's routes, assembled: sign-in, then one module per page."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from charter.web import (
    agents,
    approvals,
    audit_log,
    changes,
    decisions,
    discovery_sources,
    estate_map,
    findings,
    inbox,
    inventory,
    overview,
    reviews,
    shadow,
    signin,
    whatif,
)

STATIC = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)
for module in (
    signin,
    overview,
    agents,
    shadow,
    discovery_sources,
    findings,
    estate_map,
    reviews,
    audit_log,
    decisions,
    inventory,
    changes,
    whatif,
    inbox,
    approvals,
):
    router.include_router(module.router)


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The console's own CSS, JS and icons (a flat folder: no path tricks possible)."""
    path = STATIC / name
    if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"cache-control": "public, max-age=3600"})


@router.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")
