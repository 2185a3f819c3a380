"""Google Workspace: which users granted which third-party apps which OAuth scopes.

Reads the Admin SDK Reports API's token activity
(``activities.list`` with ``applicationName=token``): ``authorize`` and
``revoke`` events per user and OAuth client, with the granted scopes. This is
how AI assistants get into mail, calendars and drive: one person clicks
"Allow" and an app reads their inbox. Events are replayed in time order, so a
later ``revoke`` removes the grant.

Each third-party client becomes an ``oauth_app`` identity; each user's
standing authorisation becomes an ``oauth_grant`` credential with its scopes,
and a grant edge to the user's data the scopes open.
"""

from __future__ import annotations

import datetime as dt
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
    Stream,
    fingerprint,
    get_json,
    json_records,
    live_records,
)
from charter.connectors.dates import parse_time
from charter.connectors.scopes import placed
from charter.connectors.skipping import guard
from charter.connectors.streaming import Head, Rec
from charter.domain.batch import Batch, Skipped
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.errors import InvalidInput

REPORTS = "https://admin.googleapis.com/admin/reports/v1/activity/users/all/applications/token"
TOKENS = ExportFormat(
    "gworkspace.token-activity",
    "Google Workspace OAuth token audit activity (Reports API, applicationName=token)",
    f'curl -s -H "Authorization: Bearer $(gcloud auth print-access-token)" '
    f"'{REPORTS}?maxResults=1000' > token-activity.json   # or: gam report tokens",
    "token-activity.json",
    required=True,
)
_SCOPE = "https://www.googleapis.com/auth/"
#: Scopes that read or change a whole mailbox, drive or directory.
BROAD = frozenset(
    {
        "https://mail.google.com/",
        f"{_SCOPE}gmail.readonly",
        f"{_SCOPE}gmail.modify",
        f"{_SCOPE}drive",
        f"{_SCOPE}drive.readonly",
        f"{_SCOPE}calendar",
        f"{_SCOPE}admin.directory.user",
        f"{_SCOPE}cloud-platform",
    }
)


@dataclass(frozen=True, slots=True)
class WorkspaceRaw:
    activities: Stream[Rec]
    origin: tuple[str, ...]


@dataclass(slots=True)
class _Authorization:
    """One user's standing authorisation of one client, folded from its events."""

    user: str
    client: str
    app: str
    scopes: dict[str, tuple[dt.datetime, dt.datetime]] = field(default_factory=dict)  # first, last
    revoked_at: dt.datetime | None = None
    last_used: dt.datetime | None = None

    def active(self) -> dict[str, tuple[dt.datetime, dt.datetime]]:
        """Scopes authorised after the last revoke (events may arrive in any order)."""
        cut = self.revoked_at
        return {s: t for s, t in self.scopes.items() if cut is None or t[1] > cut}

    @property
    def revoked(self) -> bool:
        return not self.active()

    @property
    def first(self) -> dt.datetime | None:
        times = [first for first, _ in self.active().values()]
        return min(times) if times else None


def _params(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in event.get("parameters") or []:
        if isinstance(p, dict) and p.get("name"):
            out[str(p["name"])] = p.get("multiValue") if "multiValue" in p else p.get("value")
    return out


def short_scope(scope: str) -> str:
    return scope.removeprefix(_SCOPE)


class WorkspaceConnector(ConnectorBase[WorkspaceRaw]):
    id = "gworkspace"
    title = "Google Workspace"
    formats = (TOKENS,)
    needs = ("https://www.googleapis.com/auth/admin.reports.audit.readonly (a reports admin)",)
    live_api = LiveApi(
        base_url=REPORTS,
        target="the customer id (or my_customer)",
        credential_env="CHARTER_GWORKSPACE_TOKEN",
        docs="https://developers.google.com/admin-sdk/reports/v1/appendix/activity/token",
    )

    def sniff(self, head: Head) -> ExportFormat | None:
        first = head.first if isinstance(head.first, dict) else {}
        if (
            head.first_member == "items"
            and (first.get("id") or {}).get("applicationName") == "token"
        ):
            return TOKENS
        return None

    def fetch(self, files: Sequence[ExportFile]) -> WorkspaceRaw:
        return WorkspaceRaw(
            Stream.chain([json_records(f.path, "items") for f in files]),
            tuple(str(f.path) for f in files),
        )

    def fetch_live(self, client: httpx.Client, target: str) -> WorkspaceRaw:
        def pages() -> Iterator[tuple[str, Any]]:
            token = None
            while True:
                params: dict[str, Any] = {"maxResults": 1000, "customerId": target}
                if token:
                    params["pageToken"] = token
                body, _ = get_json(client, REPORTS, **params)
                yield REPORTS, body
                token = body.get("nextPageToken")
                if not token:
                    return

        return WorkspaceRaw(live_records(pages, lambda b: b.get("items") or []), (REPORTS,))

    def normalize(self, raw: WorkspaceRaw) -> list[Batch]:
        customers: dict[str, None] = {}
        for rec in raw.activities:
            customers[_customer_of(rec)] = None
        if not customers:
            raise InvalidInput("the token activity export holds no events", field="path")
        customers.pop("", None)  # an activity naming no customer: skipped in the first batch
        if not customers:
            raise InvalidInput("no activity has an id.customerId", field="items.id.customerId")
        return [_customer(c, raw, home=n == 0) for n, c in enumerate(customers)]


def _customer_of(rec: Rec) -> str:
    ident = rec.data.get("id") if isinstance(rec.data, dict) else None
    return str(ident.get("customerId") or "") if isinstance(ident, dict) else ""


def _replay(
    customer: str, raw: WorkspaceRaw, skipped: Skipped, *, home: bool
) -> dict[tuple[str, str], _Authorization]:
    """Fold authorize/revoke/activity events into standing authorisations, in one pass.

    The Reports API lists newest first; the fold does not depend on order (a
    scope counts if authorised after the user's last revoke of that client),
    and memory holds one entry per (user, client) pair — the size of the result.
    A malformed activity is skipped by name; the others still count.
    """
    state: dict[tuple[str, str], _Authorization] = {}
    for rec in placed(raw.activities, customer, _customer_of, home=home):
        guard(rec, skipped, functools.partial(_fold, state=state))
    return state


def _fold(rec: Rec, state: dict[tuple[str, str], _Authorization]) -> None:
    ident = rec.data.get("id") or {}
    if not ident.get("customerId"):
        raise rec.fail("the activity has no id.customerId", field=f"{rec.where}.id.customerId")
    when = parse_time(ident.get("time"), where=rec.where, field="id.time")
    if when is None:
        raise rec.fail("the activity has no id.time", field=f"{rec.where}.id.time")
    user = str((rec.data.get("actor") or {}).get("email") or "").lower()
    if not user:
        raise rec.fail("the activity has no actor.email", field=f"{rec.where}.actor.email")
    changes: list[tuple[str, str, dict[str, Any]]] = []
    for event in rec.data.get("events") or []:  # read the whole record before changing state
        params = _params(event)
        client = str(params.get("client_id") or "")
        if client:
            changes.append((client, str(event.get("name")), params))
    for client, name, params in changes:
        item = state.setdefault((user, client), _Authorization(user, client, client))
        if params.get("app_name"):
            item.app = str(params["app_name"])
        if name == "authorize":
            scopes = params.get("scope") or []
            for scope in scopes if isinstance(scopes, list) else str(scopes).split():
                first, last = item.scopes.get(scope, (when, when))
                item.scopes[scope] = (min(first, when), max(last, when))
        elif name == "revoke":
            item.revoked_at = max(item.revoked_at or when, when)
        elif name == "activity":
            item.last_used = max(item.last_used or when, when)


def _customer(customer: str, raw: WorkspaceRaw, *, home: bool) -> Batch:
    system = f"gworkspace:{customer}"
    skipped = Skipped()
    states: list[dict[tuple[str, str], _Authorization]] = []

    def state() -> dict[tuple[str, str], _Authorization]:
        if not states:
            states.append(_replay(customer, raw, skipped, home=home))
        return states[0]

    def identities() -> Iterator[Identity]:
        apps: dict[str, list[_Authorization]] = {}
        for item in state().values():
            if not item.revoked:
                apps.setdefault(item.client, []).append(item)
        for client, items in sorted(apps.items()):
            name = items[-1].app
            scopes = sorted({s for i in items for s in i.active()})
            broad = sorted(set(scopes) & BROAD)
            users = sorted(i.user for i in items)
            signal = ai_signals.name_signal(name)
            used = [i.last_used for i in items if i.last_used]
            first = min((i.first for i in items if i.first), default=None)
            first_user = min(
                items, key=lambda i: i.first or dt.datetime.max.replace(tzinfo=dt.UTC)
            ).user
            yield Identity(
                id=f"gworkspace:{customer}:app/{client}",
                source="gworkspace",
                account=customer,
                kind=IdentityKind.OAUTH_APP,
                name=name,
                system=system,
                native_id=client,
                owner=first_user,
                owner_confidence=0.4,
                ai_related=bool(signal),
                created_at=first,
                last_used_at=max(used) if used else None,
                evidence=tuple(e for e in (signal, f"first authorised by {first_user}") if e),
                properties={
                    "client_id": client,
                    "users": len(users),
                    "user_sample": users[:20],
                    "scopes": [short_scope(s) for s in scopes],
                    "broad_scopes": [short_scope(s) for s in broad],
                },
            )

    def credentials() -> Iterator[Credential]:
        for (user, client), item in sorted(state().items()):
            if item.revoked:
                continue
            yield Credential(
                id=f"gworkspace:{customer}:grant/{client}/{user}",
                source="gworkspace",
                account=customer,
                kind=CredentialKind.OAUTH_GRANT,
                provider="google",
                fingerprint=fingerprint(f"google-oauth:{client}:{user}"),
                preview=f"{item.app} ← {user}",
                identity=f"gworkspace:{customer}:app/{client}",
                created_at=item.first,
                last_used_at=item.last_used,
                location=f"https://myaccount.google.com/connections ({user})",
                properties={
                    "user": user,
                    "scopes": sorted(short_scope(s) for s in item.active()),
                    "broad": bool(set(item.active()) & BROAD),
                },
            )

    def grants() -> Iterator[Grant]:
        for (user, client), item in sorted(state().items()):
            if item.revoked:
                continue
            active = set(item.active())
            scopes = sorted(short_scope(s) for s in active)
            broad = sorted(short_scope(s) for s in active & BROAD)
            yield Grant(
                id=f"gworkspace:{customer}:grant/{client}/{user}#data",
                source="gworkspace",
                account=customer,
                subject_type="credential",
                subject=f"gworkspace:{customer}:grant/{client}/{user}",
                system=system,
                resource=f"user/{user}",
                permissions=tuple(scopes),
                reason=f"{user} authorised {item.app} on {item.first or 'an unknown date'!s:.10} "
                f"to use {', '.join(scopes[:3])}"
                + (f" (+{len(scopes) - 3} more)" if len(scopes) > 3 else "")
                + (" — it can read their whole mailbox or drive" if broad else ""),
                properties={"broad": broad, "admin": any("admin." in s for s in scopes)},
            )

    return Batch(
        "gworkspace",
        customer,
        systems=[System(system, "gworkspace", f"Google Workspace {customer}")],
        identities=Stream(identities),
        credentials=Stream(credentials),
        grants=Stream(grants),
        origin=raw.origin,
        skipped=skipped,
    )


CONNECTOR: Connector[WorkspaceRaw] = WorkspaceConnector()
