"""Access requests and the decisions Charter gives them.

A :class:`Decision` explains itself (STYLE: "decisions explain themselves"):
an allow names the charter rule that allowed it (and, on behalf of a person,
the role that gave that person the same access); a deny lists *every* reason,
each as a stable machine code plus words a person can read. Codes are part of
the public contract (AuthZEN response ``context``, activity records, the CLI's
``--json``): add new ones, never rename old ones.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

EMPTY_CONTEXT: Mapping[str, Any] = {}


class ReasonCode(StrEnum):
    """Why a request was denied. Stable: clients switch on these strings."""

    NO_MATCHING_CAPABILITY = "no_matching_capability"
    EXPLICITLY_DENIED = "explicitly_denied"
    ORG_POLICY_DENIED = "org_policy_denied"
    #: rendered as ``condition_failed:<attribute>``
    CONDITION_FAILED = "condition_failed"
    OUTSIDE_SCHEDULE = "outside_schedule"
    OUTSIDE_VALIDITY = "outside_validity"
    UNKNOWN_AGENT = "unknown_agent"
    AGENT_NOT_ACTIVE = "agent_not_active"
    CHARTER_EXPIRED = "charter_expired"
    DELEGATION_NOT_ALLOWED = "delegation_not_allowed"
    UNKNOWN_DELEGATOR = "unknown_delegator"
    DELEGATOR_DEPARTED = "delegator_departed"
    DELEGATOR_LACKS_ACCESS = "delegator_lacks_access"
    INVALID_REQUEST = "invalid_request"
    #: a subject that is not an agent: a person decided on directly by their roles
    UNKNOWN_SUBJECT_TYPE = "unknown_subject_type"
    UNKNOWN_SUBJECT = "unknown_subject"
    PERSON_DEPARTED = "person_departed"
    NO_ROLE_ALLOWS = "no_role_allows"
    EVALUATION_ERROR = "evaluation_error"
    #: enforcement points (gateway, SDK guard): the call was allowed but over a rate limit,
    #: or outside the access token's scope (a token's scope is a ceiling, RFC 6749 §3.3)
    RATE_LIMITED = "rate_limited"
    SCOPE_EXCEEDED = "scope_exceeded"
    #: an allow rule that says ``approve``: denied until someone approves this exact call
    #: (the AuthZEN access request and approval profile's "requestable" denial)
    APPROVAL_REQUIRED = "approval_required"
    #: the person asked denied that exact call (it stays denied for the rule's ttl)
    APPROVAL_DENIED = "approval_denied"


class Reason(NamedTuple):
    """One reason a request was denied (an immutable tuple: cheap on the deny path)."""

    code: ReasonCode
    message: str
    rule: str | None = None
    attribute: str | None = None
    #: the access request this call waits on (``approval_required`` only)
    approval: str | None = None

    @property
    def id(self) -> str:
        """The stable code, with the attribute for condition failures."""
        if self.code == ReasonCode.CONDITION_FAILED and self.attribute:
            return f"{self.code.value}:{self.attribute}"
        return self.code.value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.id, "message": self.message}
        if self.rule:
            out["rule"] = self.rule
        if self.approval:
            out["approval"] = self.approval
        return out


class Decision(NamedTuple):
    """The answer to one access request.

    ``rule`` is the charter rule that allowed it; ``role`` the role rule that
    gave the delegating person the same access (only on behalf of a person).
    ``reasons`` is empty exactly when ``allowed`` is true.

    An immutable tuple, because decisions are made millions of times; it
    refuses to be used as a truth value (``if decision:`` would be true for a
    deny): test ``decision.allowed``.
    """

    allowed: bool
    rule: str | None = None
    role: str | None = None
    reasons: tuple[Reason, ...] = ()

    def __bool__(self) -> bool:
        raise TypeError("a Decision is not a truth value: test decision.allowed")

    @property
    def codes(self) -> list[str]:
        return [reason.id for reason in self.reasons]

    @property
    def needs_approval(self) -> bool:
        """Denied only because the allowing rule asks for someone's approval of the call."""
        return (
            not self.allowed
            and bool(self.reasons)
            and all(r.code == ReasonCode.APPROVAL_REQUIRED for r in self.reasons)
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"allowed": self.allowed}
        if self.allowed:
            out["rule"] = self.rule
            if self.role:
                out["role"] = self.role
        else:
            out["reasons"] = [reason.to_dict() for reason in self.reasons]
        return out

    def summary(self) -> str:
        """One line for people: what allowed it, or every reason it was denied."""
        if self.allowed:
            via = f" (delegator's access via {self.role})" if self.role else ""
            return f"allowed by {self.rule}{via}"
        return "denied: " + "; ".join(f"{r.id}: {r.message}" for r in self.reasons)


def deny(code: ReasonCode, message: str, *, rule: str | None = None) -> Decision:
    return Decision(False, reasons=(Reason(code, message, rule),))


class DeferredDeny(Decision):
    """A deny whose reasons are rendered when first read, not when it is decided.

    The decision itself (denied) is settled; only the words are put off, so a deny
    costs about what an allow costs and a caller that never reads the reasons never
    pays for them. Made by :func:`deferred_deny` with the function that decides the
    same request with every reason, and its arguments (the compiled policy and the
    instant included): reading :attr:`reasons` gives what an eager evaluation gave.
    It compares, hashes, prints, iterates and pickles as that eager :class:`Decision`.
    """

    # a tuple subclass cannot add slots: a fifth item holds [explain, *its arguments],
    # then [the rendered reasons] (a list: rendering replaces its contents)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        held: list[Any] = _item(self, 4)  # the tuple's own item: not the override below
        if len(held) > 1:
            rendered = _render(held[0], held[1:])
            held[:] = [rendered]
            return rendered
        found: tuple[Reason, ...] = held[0]
        return found

    @property
    def needs_approval(self) -> bool:
        """Never: a request held only for approval carries its rule's ready-made decision."""
        return False

    def settled(self) -> Decision:
        """The plain :class:`Decision` (reasons rendered)."""
        return Decision(False, None, None, self.reasons)

    def __eq__(self, other: object) -> bool:
        return self.settled() == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.settled())

    def __repr__(self) -> str:
        return repr(self.settled())

    def __reduce__(self) -> tuple[type[Decision], tuple[Any, ...]]:
        return Decision, tuple(self.settled())

    def __iter__(self) -> Any:
        return iter(self.settled())

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: Any) -> Any:
        return self.settled()[index]


_new_tuple = tuple.__new__
_item: Any = tuple.__getitem__


def deferred_deny(explainer: list[Any]) -> Decision:
    """A deny whose reasons ``explainer`` (``[function, *arguments]``) renders when read."""
    result: Decision = _new_tuple(DeferredDeny, (False, None, None, (), explainer))
    return result


def _render(function: Callable[..., Decision], arguments: list[Any]) -> tuple[Reason, ...]:
    try:
        explained = function(*arguments)
    except Exception as exc:  # as evaluate() would have: a deny that says it failed
        logging.getLogger("charter.decisions").exception("explaining a deny failed")
        return (
            Reason(
                ReasonCode.EVALUATION_ERROR,
                f"the decision could not be evaluated ({type(exc).__name__}); denied",
            ),
        )
    if explained.allowed or not explained.reasons:  # the fast path denied: never an allow now
        logging.getLogger("charter.decisions").error(
            "a deny explained as an allow; it stays denied: %r", arguments[1:4]
        )
        return (
            Reason(
                ReasonCode.EVALUATION_ERROR,
                "the decision could not be explained; denied",
            ),
        )
    return explained.reasons


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """May ``agent`` do ``action`` on ``resource`` (``system:path``), now, in this context?

    ``on_behalf_of`` is the e-mail of the person the agent acts for, if any.
    ``time`` defaults to the moment of evaluation.
    """

    agent: str
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)
    on_behalf_of: str | None = None
    time: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordedReason:
    """One reason as read back from a recorded decision, whatever shape was stored.

    The recorder stores an allow as ``{"code": "allowed", "rule": …, "role": …}``
    and each deny reason as :meth:`Reason.to_dict` (``code``, ``message``,
    ``rule``); older or foreign rows may lack any of those keys, or hold a bare
    string. Readers get a ``code`` and a ``text`` a person can read in every case,
    so a page never depends on a key being present.
    """

    code: str
    text: str
    rule: str | None = None

    @classmethod
    def parse(cls, raw: object) -> RecordedReason | None:
        """The reason in ``raw``, or ``None`` when it holds nothing to show."""
        if isinstance(raw, str):
            return cls("note", raw) if raw.strip() else None
        if not isinstance(raw, Mapping):
            return None
        code = _text(raw.get("code")) or "unknown"
        rule = _text(raw.get("rule"))
        message = _text(raw.get("message"))
        if code == "allowed":
            text = f"allowed by {rule}" if rule else "allowed"
            role = _text(raw.get("role"))
            if role:
                text += f" (delegator's access via {role})"
        elif message:
            text = message
        else:
            text = code.replace("_", " ").replace(":", ": ")
            if rule:
                text += f" ({rule})"
        return cls(code, text, rule)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def recorded_reasons(raw: object) -> tuple[RecordedReason, ...]:
    """Every readable reason in a stored ``reasons`` value (a list; anything else is empty)."""
    if not isinstance(raw, list):
        return ()
    return tuple(r for r in map(RecordedReason.parse, raw) if r is not None)
