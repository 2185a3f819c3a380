"""Rebuilding a charter the registry stored, without validating it a second time.

The registry validates every charter (:class:`~charter.domain.charter.CharterSpec`)
before it stores its canonical document. Re-validating 10,000 of them each time
a decision point starts took seconds (e-mail and pattern validators dominate),
so the decision point rebuilds the parts directly (``model_construct``). It is still not blind: the
compiler parses every pattern and condition again and refuses what is wrong,
and a document this function cannot read is handed to full validation, whose
error makes that agent allow nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from charter.domain.charter import (
    Approval,
    Capability,
    CharterSpec,
    Condition,
    CredentialLimits,
    Delegation,
    Review,
    Schedule,
    Validity,
)
from charter.domain.durations import parse_duration
from charter.domain.enums import ConditionOp, Weekday


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


#: the fields rebuilt here; a document with any other is validated in full, so a field this
#: fast path does not know can never be dropped silently (an ``approve`` lost is an allow)
_CAPABILITY_FIELDS = frozenset(Capability.model_fields) | {"valid"}
_CHARTER_FIELDS = frozenset(CharterSpec.model_fields)


def _approval(document: dict[str, Any] | None) -> Approval | None:
    if document is None:
        return None
    if set(document) - {"by", "ttl"}:
        raise ValueError("unknown approval field")
    return Approval.model_construct(
        by=str(document["by"]), ttl=parse_duration(document.get("ttl", 900))
    )


def _capability(document: dict[str, Any]) -> Capability:
    if set(document) - _CAPABILITY_FIELDS:
        raise ValueError("a field the fast path does not rebuild")
    schedule = document.get("schedule")
    valid = document.get("valid")
    return Capability.model_construct(
        action=document["action"],
        resource=document.get("resource", "*"),
        when=[
            Condition.model_construct(
                attribute=c["attribute"], op=ConditionOp(c["op"]), value=c["value"]
            )
            for c in document.get("when", ())
        ],
        schedule=Schedule.model_construct(
            timezone=schedule.get("timezone", "UTC"),
            days=[Weekday(d) for d in schedule.get("days", list(Weekday))],
            start=schedule.get("start", "00:00"),
            end=schedule.get("end", "24:00"),
        )
        if schedule
        else None,
        valid=Validity.model_construct(
            from_=_moment(valid.get("from")), until=_moment(valid.get("until"))
        )
        if valid
        else None,
        rate_limit_per_minute=document.get("rate_limit_per_minute"),
        description=document.get("description"),
        approve=_approval(document.get("approve")),
    )


def stored_charter(document: dict[str, Any]) -> CharterSpec:
    """The charter in a stored document (fast path; falls back to full validation)."""
    try:
        if set(document) - _CHARTER_FIELDS:
            raise ValueError("a field the fast path does not rebuild")
        delegation = document.get("delegation") or {}
        credentials = document.get("credentials") or {}
        review = document.get("review") or {}
        expires = document.get("expires")
        return CharterSpec.model_construct(
            name=document["name"],
            owner=document["owner"],
            purpose=document.get("purpose", ""),
            environment=document.get("environment", "production"),
            labels=dict(document.get("labels") or {}),
            allow=[_capability(c) for c in document.get("allow", ())],
            deny=[_capability(c) for c in document.get("deny", ())],
            delegation=Delegation.model_construct(
                allowed=bool(delegation.get("allowed", False)),
                groups=list(delegation.get("groups", ())),
                max_chain=int(delegation.get("max_chain", 1)),
            ),
            credentials=CredentialLimits.model_construct(
                max_token_lifetime=parse_duration(credentials.get("max_token_lifetime", 900)),
                require_proof_of_possession=bool(credentials.get("require_proof_of_possession")),
                rotate_every=parse_duration(credentials.get("rotate_every", 90 * 86400)),
            ),
            review=Review.model_construct(every=parse_duration(review.get("every", 90 * 86400))),
            expires=dt.date.fromisoformat(expires) if expires else None,
            identities=list(document.get("identities", ())),
            parent=document.get("parent"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return CharterSpec.model_validate(document)
