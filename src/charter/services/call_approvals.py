"""Approvals bound to the exact call: hold a call an ``approve`` rule covers, let a person
approve or deny it, and allow it once when it is asked again.

:meth:`CallApprovalService.settle` is what an enforcement point (the gateway, the SDK's
local decider, the AuthZEN evaluation endpoint) calls with a decision that
:attr:`~charter.domain.decision.Decision.needs_approval`: it opens an access request for
the call (or finds the one already open), or — when one was approved for exactly this
call and is still valid — marks it used and allows, in one transaction, so a second
call with the same approval is refused. Who may approve is the one rule of
:mod:`charter.services.approvals` (never the requester), and a departed person or a
disabled console user never qualifies. Every step is audited.
"""

from __future__ import annotations

import builtins
import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from charter.domain.audit import EventDraft, canonical_json
from charter.domain.call_approval import (
    ApprovalStatus,
    CallApproval,
    call_arguments,
    call_digest,
)
from charter.domain.compiled import Rule, Snapshot
from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.enums import PersonStatus
from charter.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.services.approvals import approval_refusal, describe_approvers
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store import schema
from charter.store.auth_schema import auth_users
from charter.store.call_approvals_schema import call_approvals
from charter.store.database import Database

__all__ = ["CallApprovalService"]

_T = call_approvals
MAX_ARGUMENT_BYTES = 64 * 1024
#: calls of one agent waiting at once; beyond it a new call is denied, not queued (an agent
#: must not flood its approvers)
MAX_PENDING_PER_AGENT = 100


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _of_row(row: Row[Any], now: dt.datetime) -> CallApproval:
    requested = _aware(row.requested_at)
    expires = _aware(row.expires_at)
    assert requested is not None
    assert expires is not None
    return CallApproval(
        id=row.id,
        agent=row.agent,
        action=row.action,
        resource=row.resource,
        on_behalf_of=row.on_behalf_of,
        arguments=dict(row.arguments or {}),
        rule=row.rule,
        approvers=tuple(row.approvers or ()),
        owner=row.owner,
        ttl=row.ttl,
        stored_status=ApprovalStatus(row.status),
        requested_at=requested,
        expires_at=expires,
        digest=row.digest,
        decided_by=row.decided_by,
        decided_at=_aware(row.decided_at),
        used_at=_aware(row.used_at),
        now=now,
    )


def _rule(snapshot: Snapshot, agent: str, rule_id: str | None) -> Rule | None:
    compiled = snapshot.agents.get(agent)
    if compiled is None or rule_id is None:
        return None
    return next((r for r in compiled.allows.rules if r.id == rule_id), None)


def _disqualified(connection: Connection, approver: str) -> str | None:
    """A departed person or a disabled console user never approves; nor does a stranger."""
    person = connection.execute(
        sa.select(schema.people.c.status).where(schema.people.c.email == approver)
    ).first()
    user = connection.execute(
        sa.select(auth_users.c.disabled_at).where(auth_users.c.email == approver)
    ).first()
    if person is not None and person.status != PersonStatus.ACTIVE.value:
        return f"{approver} has departed; a departed person approves nothing"
    if user is not None and user.disabled_at is not None:
        return f"{approver} is a disabled console user; a disabled user approves nothing"
    if person is None and user is None:
        return f"{approver} is neither in the directory nor a console user"
    return None


def _qualifies(connection: Connection, item: CallApproval, who: str) -> bool:
    """The approver check of :meth:`CallApprovalService.approve`, without deciding anything."""
    refusal = _disqualified(connection, who) or approval_refusal(
        connection, item.approvers, approver=who, requester=item.agent, owner=item.owner
    )
    return refusal is None


class CallApprovalService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        snapshot: Callable[[], Snapshot],
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._snapshot = snapshot

    # -- the enforcement side ---------------------------------------------------------------
    def settle(
        self,
        decision: Decision,
        agent: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None,
        on_behalf_of: str | None = None,
    ) -> Decision:
        """The decision for a call once approvals are taken into account (see the module doc).

        Anything but a decision that only needs approval is returned as it is; any failure
        here leaves the call denied (fail closed).
        """
        if not decision.needs_approval:
            return decision
        rule = _rule(self._snapshot(), agent, decision.reasons[0].rule)
        if rule is None or rule.approve is None:
            return decision
        arguments = call_arguments(context)
        if len(canonical_json(arguments).encode()) > MAX_ARGUMENT_BYTES:
            message = "the call's arguments are too large to hold for approval (64 KiB at most)"
            return Decision(False, reasons=(Reason(ReasonCode.APPROVAL_REQUIRED, message),))
        try:
            digest = call_digest(agent, action, resource, arguments, on_behalf_of)
            with self._db.write() as connection:
                return self._settle(
                    connection,
                    decision,
                    rule,
                    agent,
                    action,
                    resource,
                    arguments,
                    on_behalf_of,
                    digest,
                )
        except Exception as exc:  # fail closed, and say so
            message = f"the approval could not be checked ({type(exc).__name__}); denied"
            return Decision(False, reasons=(Reason(ReasonCode.EVALUATION_ERROR, message),))

    def _settle(
        self,
        connection: Connection,
        decision: Decision,
        rule: Rule,
        agent: str,
        action: str,
        resource: str,
        arguments: dict[str, Any],
        on_behalf_of: str | None,
        digest: str,
    ) -> Decision:
        now = self._clock.now()
        rows = connection.execute(
            sa.select(_T).where(_T.c.digest == digest).order_by(_T.c.requested_at.desc())
        ).all()
        found = [_of_row(row, now) for row in rows]
        for item in found:
            if item.status == ApprovalStatus.APPROVED:
                used = connection.execute(
                    sa.update(_T)
                    .where(_T.c.id == item.id, _T.c.status == ApprovalStatus.APPROVED.value)
                    .values(status=ApprovalStatus.USED.value, used_at=now)
                )
                if used.rowcount == 1:
                    self._event(connection, agent, "approval.use", item, {"rule": rule.id})
                    assert decision.reasons[0].rule is not None
                    return Decision(True, rule=decision.reasons[0].rule)
        for item in found:
            decided = item.decided_at
            if (
                item.status == ApprovalStatus.DENIED
                and decided is not None
                and now < decided + dt.timedelta(seconds=item.ttl)
            ):
                return Decision(False, reasons=(self._denied_reason(item),))
        waiting = next((i for i in found if i.status == ApprovalStatus.PENDING), None)
        if waiting is None:
            if self._pending_count(connection, agent, now) >= MAX_PENDING_PER_AGENT:
                message = (
                    f"{agent} already has {MAX_PENDING_PER_AGENT} calls awaiting approval; "
                    "denied until some are decided or expire"
                )
                return Decision(False, reasons=(Reason(ReasonCode.APPROVAL_REQUIRED, message),))
            waiting = self._open(
                connection, rule, agent, action, resource, arguments, on_behalf_of, digest, now
            )
        base = decision.reasons[0]
        message = (
            f"{base.message}; access request {waiting.id} waits for "
            f"{describe_approvers(waiting.approvers)} until {waiting.expires_at:%Y-%m-%d %H:%M} "
            f"UTC (charter approvals approve {waiting.id}); ask again once it is approved"
        )
        reason = Reason(ReasonCode.APPROVAL_REQUIRED, message, base.rule, None, waiting.id)
        return Decision(False, reasons=(reason,))

    @staticmethod
    def _pending_count(connection: Connection, agent: str, now: dt.datetime) -> int:
        rows = connection.execute(
            sa.select(_T.c.expires_at).where(
                _T.c.agent == agent, _T.c.status == ApprovalStatus.PENDING.value
            )
        ).all()
        return sum(1 for row in rows if (_aware(row.expires_at) or now) > now)

    @staticmethod
    def _denied_reason(item: CallApproval) -> Reason:
        return Reason(
            ReasonCode.APPROVAL_DENIED,
            f"{item.decided_by} denied access request {item.id} for this exact call",
            item.rule,
            None,
            item.id,
        )

    def _open(
        self,
        connection: Connection,
        rule: Rule,
        agent: str,
        action: str,
        resource: str,
        arguments: dict[str, Any],
        on_behalf_of: str | None,
        digest: str,
        now: dt.datetime,
    ) -> CallApproval:
        approve = rule.approve
        assert approve is not None
        compiled = self._snapshot().agents.get(agent)
        owner = compiled.owner if compiled is not None else ""
        request_id = f"apr-{uuid.uuid4().hex[:12]}"
        expires = now + dt.timedelta(seconds=approve.ttl)
        values = {
            "id": request_id,
            "digest": digest,
            "agent": agent,
            "action": action,
            "resource": resource,
            "on_behalf_of": on_behalf_of,
            "arguments": arguments,
            "rule": rule.id,
            "approvers": list(approve.approvers),
            "owner": owner,
            "ttl": approve.ttl,
            "status": ApprovalStatus.PENDING.value,
            "requested_at": now,
            "expires_at": expires,
        }
        connection.execute(sa.insert(_T).values(**values))
        item = CallApproval(
            request_id,
            agent,
            action,
            resource,
            on_behalf_of,
            arguments,
            rule.id,
            approve.approvers,
            owner,
            approve.ttl,
            ApprovalStatus.PENDING,
            now,
            expires,
            digest,
            now=now,
        )
        self._event(connection, agent, "approval.request", item, {"rule": rule.id})
        return item

    def _event(
        self,
        connection: Connection,
        actor: str,
        action: str,
        item: CallApproval,
        extra: Mapping[str, Any],
    ) -> None:
        after = {
            "agent": item.agent,
            "action": item.action,
            "resource": item.resource,
            "on_behalf_of": item.on_behalf_of,
            "digest": item.digest,
            **extra,
        }
        self._audit.record(connection, EventDraft(actor, action, "approval", item.id, None, after))

    # -- the approver's side -------------------------------------------------------------------
    def list(
        self, *, status: ApprovalStatus | None = None, agent: str | None = None, limit: int = 200
    ) -> builtins.list[CallApproval]:
        """Access requests, newest first (``status`` as seen now: expired counts as expired)."""
        query = sa.select(_T).order_by(_T.c.requested_at.desc(), _T.c.id)
        if agent:
            query = query.where(_T.c.agent == agent)
        if status in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.EXPIRED):
            live = [ApprovalStatus.PENDING.value, ApprovalStatus.APPROVED.value]
            query = query.where(_T.c.status.in_(live))
        elif status is not None:
            query = query.where(_T.c.status == status.value)
        now = self._clock.now()
        with self._db.read() as connection:
            rows = [_of_row(row, now) for row in connection.execute(query).all()]
        if status is not None:
            rows = [r for r in rows if r.status == status]
        return rows[:limit]

    def get(self, request_id: str) -> CallApproval:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.id == request_id)).first()
        if row is None:
            raise NotFound(f"no access request {request_id!r}", field="id")
        return _of_row(row, self._clock.now())

    def may_decide(self, item: CallApproval, who: str) -> bool:
        """May ``who`` approve or deny ``item`` (the check :meth:`approve` makes)?"""
        with self._db.read() as connection:
            return _qualifies(connection, item, who.strip().lower())

    def approve(self, request_id: str, *, approver: str, via: str | None = None) -> CallApproval:
        """Approve one call: usable once, by the same call, within the rule's ttl from now.

        ``via`` names the channel the approver answered on (audited), e.g. ``mcp-elicitation``.
        """
        return self._decide(request_id, approver, ApprovalStatus.APPROVED, via)

    def deny(self, request_id: str, *, approver: str, via: str | None = None) -> CallApproval:
        return self._decide(request_id, approver, ApprovalStatus.DENIED, via)

    def delegator_may_decide(self, request_id: str, person: str) -> bool:
        """Whether ``person`` — the one the held call acts for — may decide it themselves.

        True only for a pending request made on ``person``'s behalf that ``person`` qualifies
        to approve under the rule (never the requester; departed or disabled never qualify).
        Read-only: :meth:`approve` checks all of it again when the answer comes.
        """
        person = (person or "").strip().lower()
        if not person:
            return False
        with self._db.read() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.id == request_id)).first()
            if row is None:
                return False
            item = _of_row(row, self._clock.now())
            if item.status != ApprovalStatus.PENDING:
                return False
            if (item.on_behalf_of or "").strip().lower() != person:
                return False
            return _qualifies(connection, item, person)

    def _decide(
        self, request_id: str, approver: str, outcome: ApprovalStatus, via: str | None = None
    ) -> CallApproval:
        approver = (approver or "").strip().lower()
        if not approver:
            raise InvalidInput("say who decides: --by EMAIL", field="by")
        with self._db.write() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.id == request_id)).first()
            if row is None:
                raise NotFound(f"no access request {request_id!r}", field="id")
            now = self._clock.now()
            item = _of_row(row, now)
            if item.status != ApprovalStatus.PENDING:
                raise Conflict(
                    f"access request {request_id} is {item.status.value}, not pending",
                    field="id",
                )
            refusal = _disqualified(connection, approver) or approval_refusal(
                connection,
                item.approvers,
                approver=approver,
                requester=item.agent,
                owner=item.owner,
            )
            if refusal is not None:
                raise PermissionDenied(refusal, field="by")
            values: dict[str, Any] = {"status": outcome.value, "decided_by": approver}
            values["decided_at"] = now
            if outcome == ApprovalStatus.APPROVED:
                values["expires_at"] = now + dt.timedelta(seconds=item.ttl)
            changed = connection.execute(
                sa.update(_T)
                .where(_T.c.id == request_id, _T.c.status == ApprovalStatus.PENDING.value)
                .values(**values)
            )
            if changed.rowcount != 1:
                raise Conflict(f"access request {request_id} was decided meanwhile", field="id")
            verb = "approval.approve" if outcome == ApprovalStatus.APPROVED else "approval.deny"
            extra = {"rule": item.rule, **({"via": via} if via else {})}
            self._event(connection, approver, verb, item, extra)
            row = connection.execute(sa.select(_T).where(_T.c.id == request_id)).one()
            return _of_row(row, now)
