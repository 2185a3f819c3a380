"""Rendering console pages: one Jinja2 environment, autoescaped, with the page chrome.

Every value a page shows goes through Jinja2's HTML autoescaping, so a charter
whose purpose is ``<script>…`` shows that text and runs nothing; the
Content-Security-Policy set in ``http/security.py`` (``script-src 'self'``)
is the second wall. Templates never mark user data ``|safe``; the only markup
built in Python is the SVG of charts and the map, which escapes every label
itself (:mod:`charter.web.charts`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from charter.domain.durations import format_duration
from charter.services.auth import Principal, UserRole
from charter.version import __version__

TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "charter_flash"

#: The console's sections, in the order of the navigation bar, with who sees them.
NAV: tuple[tuple[str, str, frozenset[UserRole]], ...] = (
    ("/", "Overview", frozenset(UserRole)),
    ("/inbox", "Inbox", frozenset(UserRole)),
    ("/agents", "Agents", frozenset(UserRole)),
    ("/shadow", "Shadow AI", frozenset({UserRole.ADMIN, UserRole.AUDITOR})),
    ("/discovery", "Discovery", frozenset({UserRole.ADMIN, UserRole.AUDITOR})),
    ("/findings", "Findings", frozenset(UserRole)),
    ("/map", "Map", frozenset(UserRole)),
    ("/reviews", "Reviews", frozenset({UserRole.ADMIN, UserRole.OWNER})),
    ("/changes", "Changes", frozenset(UserRole)),
    ("/approvals", "Approvals", frozenset(UserRole)),
    ("/audit", "Audit", frozenset({UserRole.ADMIN, UserRole.AUDITOR})),
    ("/decisions", "Decisions", frozenset({UserRole.ADMIN, UserRole.OWNER})),
    ("/what-if", "What-if", frozenset({UserRole.ADMIN})),
)
#: Who may open the estate-wide map views (``/map?system=`` and ``?identity=``).
ESTATE_VIEWERS = frozenset({UserRole.ADMIN, UserRole.AUDITOR})


def may_open(principal: Principal | None, href: str) -> bool:
    """Whether ``principal`` may follow a console link, so a page shows only links that
    work for its reader (the routes refuse the rest anyway)."""
    if principal is None or principal.role is None:
        return False
    url = urlsplit(href)
    for section, _, roles in NAV:
        inside = url.path == section or url.path.startswith(section + "/")
        if section != "/" and inside and principal.role not in roles:
            return False
    if url.path == "/map" and ("system=" in url.query or "identity=" in url.query):
        return principal.role in ESTATE_VIEWERS
    return True


def _when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value.astimezone(dt.UTC) if value.tzinfo is not None else value
        return moment.strftime(fmt)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _ago(value: Any, now: dt.datetime | None = None) -> str:
    if not isinstance(value, dt.datetime):
        return _when(value)
    now = now or dt.datetime.now(dt.UTC)
    moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _query(request: Request, **changes: Any) -> str:
    """The current URL's query with some parameters changed (None removes one)."""
    params = dict(request.query_params.multi_items())
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["pretty_json"] = _pretty_json
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    env.filters["duration"] = lambda v: format_duration(int(v)) if v else "—"
    env.globals["version"] = __version__
    env.globals["query"] = _query
    env.globals["zip"] = zip
    env.globals["may_open"] = may_open
    return env


ENV = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    title: str = "",
) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    flash = _take_flash(request)
    page = ENV.get_template(template).render(
        request=request,
        principal=principal if isinstance(principal, Principal) else None,
        csrf=principal.csrf if isinstance(principal, Principal) else "",
        nav=_nav_for(principal, request.url.path),
        flash=flash,
        title=title,
        **(context or {}),
    )
    response = HTMLResponse(page, status_code=status)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _nav_for(principal: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(principal, Principal) or principal.role is None:
        return []
    out = []
    for href, label, roles in NAV:
        if principal.role in roles:
            current = path == href if href == "/" else path == href or path.startswith(href + "/")
            out.append({"href": href, "label": label, "current": current})
    return out


def _take_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(unquote(raw))
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    kind = value.get("kind") if value.get("kind") in ("ok", "error") else "ok"
    return {"kind": str(kind), "text": str(value.get("text", ""))[:500]}


def redirect(url: str, *, message: str | None = None, error: bool = False) -> Response:
    """303 See Other after a form post (RFC 9110 §15.4.4), with a one-time message."""
    response = RedirectResponse(url, status_code=303)
    if message:
        payload = json.dumps({"kind": "error" if error else "ok", "text": message[:500]})
        response.set_cookie(
            FLASH_COOKIE,
            quote(payload, safe=""),
            max_age=60,
            path="/",
            httponly=True,
            samesite="lax",
        )
    return response


def svg(markup: str) -> Markup:
    """Mark server-built SVG as safe: :mod:`charter.web.charts` escaped every label."""
    return Markup(markup)  # noqa: S704 - built from escaped parts only
