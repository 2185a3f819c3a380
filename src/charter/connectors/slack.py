"""Slack: installed apps with their scopes, bot users, and who installed what.

Reads the Web API's own JSON: ``admin.apps.approved.list`` (Enterprise Grid
admin API: each approved app, its scopes and who approved it),
``users.list`` (bot users and the app each belongs to) and optionally
``team.integrationLogs`` (who added or removed which app, and when). Slack
dates are seconds since the epoch, as numbers or strings.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from charter.connectors import ai_signals
from charter.connectors.base import (
    Connector,
    ConnectorBase,
    ExportFile,
    ExportFormat,
    LiveApi,
    LiveApiError,
    Stream,
    get_json,
    json_records,
    live_records,
    require,
)
from charter.connectors.dates import parse_time
from charter.connectors.scopes import placed
from charter.connectors.skipping import each, guard
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
from charter.domain.enums import IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

_CURL = 'curl -s -H "Authorization: Bearer $SLACK_ADMIN_TOKEN" "https://slack.com/api/'
APPS = ExportFormat(
    "slack.approved-apps",
    "Slack approved apps (admin.apps.approved.list)",
    f'{_CURL}admin.apps.approved.list?limit=1000" > approved-apps.json',
    "approved-apps.json",
    required=True,
)
USERS = ExportFormat(
    "slack.users",
    "Slack users and bots (users.list)",
    f'{_CURL}users.list?limit=1000" > users.json',
    "users.json",
)
LOGS = ExportFormat(
    "slack.integration-logs",
    "Slack integration logs (team.integrationLogs)",
    f'{_CURL}team.integrationLogs?count=1000" > integration-logs.json',
    "integration-logs.json",
)
#: Scopes that read every conversation or act as an admin.
SENSITIVE = frozenset(
    {
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "admin",
        "files:read",
        "users:read.email",
        "search:read",
        "chat:write.customize",
        "admin.apps:write",
    }
)


@dataclass(frozen=True, slots=True)
class SlackRaw:
    apps: Stream[Rec]
    users: Stream[Rec]
    logs: Stream[Rec]
    origin: tuple[str, ...]


@dataclass(slots=True)
class _Ctx:
    emails: dict[str, str] = field(default_factory=dict)  # user id → e-mail
    installed_by: dict[str, tuple[str, Any]] = field(default_factory=dict)  # app id → (user, when)


def _workspace(rec: Rec) -> str:
    data = rec.data
    for key in ("enterprise", "team"):
        value = data.get(key)
        if isinstance(value, dict) and value.get("id"):
            return str(value["id"])
    if data.get("team_id"):
        return str(data["team_id"])
    raise rec.fail("cannot tell the workspace: no enterprise, team or team_id")


class SlackConnector(ConnectorBase[SlackRaw]):
    id = "slack"
    title = "Slack"
    formats = (APPS, USERS, LOGS)
    needs = (
        "admin.apps:read",
        "users:read",
        "users:read.email",
        "admin (for team.integrationLogs)",
    )
    live_api = LiveApi(
        base_url="https://slack.com/api",
        target="the enterprise or team id (T…/E…)",
        credential_env="CHARTER_SLACK_TOKEN",
        docs="https://api.slack.com/methods/admin.apps.approved.list",
    )

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if head.first_member == "approved_apps" or "approved_apps" in head.keys:
            return APPS
        if head.first_member == "members" and "is_bot" in first:
            return USERS
        if head.first_member == "logs" and ("service_type" in first or "change_type" in first):
            return LOGS
        return None

    def fetch(self, files: Sequence[ExportFile]) -> SlackRaw:
        def pick(fmt: ExportFormat, member: str) -> Stream[Rec]:
            return Stream.chain([json_records(f.path, member) for f in files if f.format is fmt])

        return SlackRaw(
            pick(APPS, "approved_apps"),
            pick(USERS, "members"),
            pick(LOGS, "logs"),
            tuple(str(f.path) for f in files),
        )

    def fetch_live(self, client: httpx.Client, target: str) -> SlackRaw:
        def paged(method: str, **params: Any) -> Iterator[tuple[str, Any]]:
            cursor = ""
            while True:
                url = f"https://slack.com/api/{method}"
                body, _ = get_json(client, url, **params, **({"cursor": cursor} if cursor else {}))
                if not body.get("ok", False):
                    raise LiveApiError(f"{method} answered {body.get('error')}", field="live")
                yield url, body
                cursor = (body.get("response_metadata") or {}).get("next_cursor") or ""
                if not cursor:
                    return

        return SlackRaw(
            live_records(
                lambda: paged("admin.apps.approved.list", limit=1000),
                lambda b: b.get("approved_apps") or [],
            ),
            live_records(lambda: paged("users.list", limit=1000), lambda b: b.get("members") or []),
            live_records(
                lambda: paged("team.integrationLogs", count=1000), lambda b: b.get("logs") or []
            ),
            (f"slack:{target}",),
        )

    def normalize(self, raw: SlackRaw) -> list[Batch]:
        workspaces = {_owner(rec): None for rec in raw.apps}
        if not workspaces:
            raise InvalidInput("the Slack export lists no approved apps", field="path")
        workspaces.pop("", None)  # an app naming no workspace: skipped in the first batch
        if not workspaces:
            raise InvalidInput(
                "cannot tell the workspace: no app has enterprise, team or team_id", field="path"
            )
        single = len(workspaces) == 1
        return [_batch(w, raw, single=single, home=n == 0) for n, w in enumerate(workspaces)]


def _owner(rec: Rec) -> str:
    """The workspace an app belongs to, or "" when it cannot be told."""
    try:
        return _workspace(rec) if isinstance(rec.data, dict) else ""
    except InvalidInput:
        return ""


def _batch(workspace: str, raw: SlackRaw, *, single: bool, home: bool) -> Batch:
    system = f"slack:{workspace}"
    skipped = Skipped()
    contexts: list[_Ctx] = []
    apps = placed(raw.apps, workspace, _owner, home=home)

    def ctx() -> _Ctx:
        if not contexts:
            found = _Ctx()
            for rec in raw.users:
                guard(rec, skipped, functools.partial(_learn_user, found=found))
            dated = each(raw.logs, skipped, lambda r: (float(r.data.get("date") or 0), r))
            for _date, rec in sorted(dated, key=lambda pair: pair[0]):
                guard(rec, skipped, functools.partial(_learn_install, found=found))
            contexts.append(found)
        return contexts[0]

    def bots() -> Iterator[Rec]:
        for rec in raw.users:
            data = rec.data
            if (
                isinstance(data, dict)
                and data.get("is_bot")
                and not data.get("deleted")
                and (single or data.get("team_id") == workspace)
            ):
                yield rec

    def identities() -> Iterator[Identity]:
        yield from each(apps, skipped, lambda r: _app(_placeable(r), workspace, ctx())[0])
        yield from each(bots(), skipped, lambda r: _bot(r, workspace))

    def grants() -> Iterator[Grant]:
        for grant in each(apps, skipped, lambda r: _app(_placeable(r), workspace, ctx())[1]):
            if grant:
                yield grant
        for grant in each(bots(), skipped, lambda r: _bot_grant(r, workspace)):
            if grant:
                yield grant

    credentials: list[Credential] = []  # Slack's admin API does not expose tokens
    return Batch(
        "slack",
        workspace,
        systems=[System(system, "slack", f"Slack workspace {workspace}")],
        identities=Stream(identities),
        credentials=credentials,
        grants=Stream(grants),
        origin=raw.origin,
        skipped=skipped,
    )


def _placeable(rec: Rec) -> Rec:
    """``rec``, or the error that it names no workspace (kept for the first batch to skip)."""
    _workspace(rec)
    return rec


def _learn_user(rec: Rec, found: _Ctx) -> None:
    profile = rec.data.get("profile") or {}
    if profile.get("email"):
        found.emails[str(rec.data.get("id"))] = str(profile["email"]).lower()


def _learn_install(rec: Rec, found: _Ctx) -> None:
    app = rec.data.get("app_id") or rec.data.get("service_id")
    if app and rec.data.get("change_type") in ("added", "enabled"):
        when = parse_time(rec.data.get("date"), where=rec.where, field="date")
        user = str(rec.data.get("user_id") or "")
        found.installed_by[str(app)] = (
            found.emails.get(user) or rec.data.get("user_name") or user,
            when,
        )


def _bot_grant(rec: Rec, workspace: str) -> Grant | None:
    data = rec.data
    app_id = (data.get("profile") or {}).get("api_app_id")
    if not app_id:
        return None
    return Grant(
        id=f"slack:{workspace}:bot/{data.get('id')}#app",
        source="slack",
        account=workspace,
        subject_type="identity",
        subject=f"slack:{workspace}:bot/{data.get('id')}",
        system=f"slack:{workspace}",
        resource=f"app/{app_id}",
        permissions=("bot",),
        reason=f"bot user @{data.get('name')} acts for app {app_id} with its bot token scopes",
        properties={"assumes": f"slack:{workspace}:app/{app_id}"},
    )


def _app(rec: Rec, workspace: str, ctx: _Ctx) -> tuple[Identity, Grant | None]:
    data = rec.data
    app = data.get("app") or {}
    if not isinstance(app, dict) or not app.get("id"):
        raise rec.fail("the approved app has no app.id", field=f"{rec.where}.app.id")
    app_id = str(app["id"])
    name = str(app.get("name") or app_id)
    scopes = [s for s in data.get("scopes") or [] if isinstance(s, dict)]
    names = sorted({f"{s.get('token_type', 'bot')}:{s.get('name')}" for s in scopes})
    sensitive = sorted(
        {str(s.get("name")) for s in scopes if s.get("is_sensitive") or s.get("name") in SENSITIVE}
    )
    evidence: list[str] = []
    signal = ai_signals.name_signal(name, app.get("description"))
    if signal:
        evidence.append(signal)
    if any(s.get("name") in ("assistant:write",) for s in scopes):
        evidence.append("requests the assistant:write scope (Slack AI assistant apps)")
    resolver = (data.get("last_resolved_by") or {}).get("actor_id")
    installed = ctx.installed_by.get(app_id)
    owner = installed[0] if installed else ctx.emails.get(str(resolver)) if resolver else None
    if owner:
        evidence.append(f"installed by {owner}" if installed else f"approved by {owner}")
    identity_id = f"slack:{workspace}:app/{app_id}"
    identity = Identity(
        id=identity_id,
        source="slack",
        account=workspace,
        kind=IdentityKind.OAUTH_APP,
        name=name,
        system=f"slack:{workspace}",
        native_id=app_id,
        owner=owner,
        owner_confidence=0.8 if installed else 0.6 if owner else 0.0,
        ai_related=any(not e.startswith(("installed", "approved")) for e in evidence),
        created_at=installed[1] if installed else None,
        evidence=tuple(evidence),
        properties={
            "scopes": names,
            "sensitive_scopes": sensitive,
            "internal": bool(app.get("is_internal")),
            "directory_approved": bool(app.get("is_app_directory_approved")),
            "date_updated": _iso(
                parse_time(data.get("date_updated"), where=rec.where, field="date_updated")
            ),
        },
    )
    grant = None
    if names:
        grant = Grant(
            id=f"{identity_id}#scopes",
            source="slack",
            account=workspace,
            subject_type="identity",
            subject=identity_id,
            system=f"slack:{workspace}",
            resource="workspace",
            permissions=tuple(names),
            reason=f"app {name} was approved with {len(names)} scope(s)"
            + (f", including sensitive {', '.join(sensitive[:4])}" if sensitive else ""),
            properties={
                "sensitive": sensitive,
                "admin": any(s.startswith("admin") for s in sensitive),
            },
        )
    return identity, grant


def _bot(rec: Rec, workspace: str) -> Identity:
    data = rec.data
    bot_id = str(require(rec, "id"))
    profile = data.get("profile") or {}
    name = str(data.get("real_name") or data.get("name") or bot_id)
    signal = ai_signals.name_signal(name, data.get("name"))
    app_id = profile.get("api_app_id")
    return Identity(
        id=f"slack:{workspace}:bot/{bot_id}",
        source="slack",
        account=workspace,
        kind=IdentityKind.BOT_USER,
        name=name,
        system=f"slack:{workspace}",
        native_id=bot_id,
        ai_related=bool(signal),
        evidence=(signal,) if signal else (),
        created_at=None,
        properties={
            "bot_id": profile.get("bot_id"),
            "app_id": app_id,
            "handle": data.get("name"),
            "links": {"app": f"slack:{workspace}:app/{app_id}"} if app_id else {},
            "updated": _iso(parse_time(data.get("updated"), where=rec.where, field="updated")),
        },
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


CONNECTOR: Connector[SlackRaw] = SlackConnector()
