"""Who may approve a widening change: the one check behind charter proposals, JIT and resume.

The governance policy's ``approvals`` section lists, per kind of change, who
qualifies (``admin``, ``owner``, ``role:NAME``); whoever qualifies must also
not be the person who asked. That second rule has no exception: an admin's own
widening needs another admin. Disabled console users, departed people and
unknown names never qualify (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import PersonStatus
from charter.domain.roles import parse_roles
from charter.store import schema
from charter.store.auth_schema import auth_users
from charter.store.decisions_schema import policy_documents

__all__ = ["approval_refusal", "describe_approvers", "is_admin"]


def is_admin(connection: Connection, email: str) -> bool:
    """An enabled console admin (the ``auth_users`` table)."""
    row = connection.execute(
        sa.select(auth_users.c.role, auth_users.c.disabled_at).where(
            auth_users.c.email == email.strip().lower()
        )
    ).first()
    return row is not None and row.role == "admin" and row.disabled_at is None


def _in_role(connection: Connection, email: str, role_name: str) -> bool:
    _D = policy_documents
    document = connection.execute(
        sa.select(_D.c.document).where(_D.c.kind == "roles").order_by(_D.c.version.desc()).limit(1)
    ).scalar()
    if document is None:
        return False
    roles = parse_roles(dict(document)).roles
    role = next((r for r in roles if r.name == role_name), None)
    if role is None:
        return False
    person = connection.execute(
        sa.select(schema.people.c.groups, schema.people.c.status).where(
            schema.people.c.email == email
        )
    ).first()
    if person is None or person.status != PersonStatus.ACTIVE.value:
        return False
    return not set(role.groups).isdisjoint(person.groups or [])


def describe_approvers(entries: Sequence[str]) -> str:
    words = {"admin": "an admin", "owner": "the agent's owner"}
    return " or ".join(words.get(e, f"a member of role {e.partition(':')[2]!r}") for e in entries)


def approval_refusal(
    connection: Connection,
    entries: Sequence[str],
    *,
    approver: str,
    requester: str,
    owner: str,
) -> str | None:
    """Why ``approver`` may not approve this change, or None when they may."""
    approver = approver.strip().lower()
    if not approver:
        return "say who approves"
    if approver == requester.strip().lower():
        return f"{approver} asked for this change; someone else must approve it"
    for entry in entries:
        if entry == "admin" and is_admin(connection, approver):
            return None
        if entry == "owner" and approver == owner.strip().lower():
            return None
        if entry.startswith("role:") and _in_role(connection, approver, entry[5:]):
            return None
    return f"{approver} may not approve this change: it needs {describe_approvers(entries)}"
