"""Narrowing proven: a sub-agent's charter must be contained in its parent's.

A charter that names a ``parent`` is registered (or updated) only when
:func:`charter.domain.containment.containment` finds no way it allows more than
the parent's current charter, the organisation policy included. A refusal names
the first way and, when the engine confirms one, a counterexample request: what
the child would be allowed that the parent is not. The same check runs at every
hop of a token exchange chain (:func:`charter.domain.containment.hop_widenings`,
from the token endpoint), restricted to the scopes the new token carries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.charter import CharterSpec
from charter.domain.containment import containment, hop_widenings, refusal_message
from charter.domain.org_policy import EMPTY_ORG_POLICY, OrgPolicy, parse_org_policy
from charter.domain.stored_charter import stored_charter
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.errors import InvalidInput, NotFound
from charter.store import schema
from charter.store.decisions_schema import policy_documents

__all__ = ["check_chain", "check_parent"]


def _org_policy(connection: Connection) -> OrgPolicy:
    _D = policy_documents
    document = connection.execute(
        sa.select(_D.c.document).where(_D.c.kind == "policy").order_by(_D.c.version.desc()).limit(1)
    ).scalar()
    return parse_org_policy(dict(document)) if document else EMPTY_ORG_POLICY


def current_charter(connection: Connection, name: str) -> CharterSpec | None:
    _A, _V = schema.agents, schema.charter_versions
    row = connection.execute(
        sa.select(_A.c.state, _A.c.charter_version).where(_A.c.name == name)
    ).first()
    if row is None:
        return None
    document = connection.execute(
        sa.select(_V.c.document).where(_V.c.agent == name, _V.c.version == row.charter_version)
    ).scalar()
    return stored_charter(dict(document)) if document else None


def check_parent(connection: Connection, spec: CharterSpec) -> None:
    """Refuse (InvalidInput naming ``parent``) a charter that is not contained in its parent's."""
    if spec.parent is None:
        return
    parent = current_charter(connection, spec.parent)
    if parent is None:
        raise NotFound(f"parent agent {spec.parent!r} is not registered", field="parent")
    found = containment(parent, spec, _org_policy(connection))
    if found:
        raise InvalidInput(refusal_message(spec.name, spec.parent, found), field="parent")


def check_chain(
    client: str,
    charter: CharterSpec,
    earlier: Iterable[tuple[str, CharterSpec]],
    scopes: Iterable[str],
    *,
    at: float,
) -> None:
    """A token exchange hop: for the scopes the new token carries, ``client``'s charter must
    be contained in every earlier agent's of the chain; else ``invalid_grant``
    (``not_narrowing``) with the counterexample."""
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    wanted = tuple(scopes)
    for name, spec in earlier:
        found = hop_widenings(spec, charter, wanted, at=moment)
        if found:
            raise OAuthError(
                OAuthErrorCode.INVALID_GRANT,
                refusal_message(client, name, found),
                reason="not_narrowing",
            )
