"""Who an AuthZEN subject is: an agent, or a person from the directory, or nobody.

A policy enforcement point names its subject ``{type, id}``. The type says
where to look — ``agent`` in the registry; ``user`` and ``identity`` (and any
type the org policy's ``subjects:`` maps to ``person``) in the directory — and
the id is an agent's name, or a person's e-mail (any case) or one of their
external ids (an IdP's opaque subject id, a SCIM ``externalId``; exact).
A subject that cannot be resolved carries the reason it is denied; it is never
a malformed request.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, NamedTuple

from charter.domain.compiled import PersonEntry, Snapshot
from charter.domain.decision import Reason, ReasonCode


class SubjectKind(StrEnum):
    AGENT = "agent"
    PERSON = "person"


#: the subject types every Charter knows; the org policy's ``subjects:`` adds to them
BUILT_IN_TYPES: Final[Mapping[str, SubjectKind]] = {
    "agent": SubjectKind.AGENT,
    "user": SubjectKind.PERSON,
    "identity": SubjectKind.PERSON,
}


class ResolvedSubject(NamedTuple):
    """The subject as the decision point knows it; ``reason`` is set exactly when it is not.

    A tuple, because one is made per decision (a frozen dataclass costs a microsecond).
    """

    type: str
    id: str
    kind: SubjectKind | None
    #: the agent's name or the person's e-mail; ``None`` when unresolved
    key: str | None
    person: PersonEntry | None = None
    reason: Reason | None = None

    @property
    def principal(self) -> str:
        """How activity records name the subject: the agent, ``person:<email>``, or as sent."""
        if self.kind is SubjectKind.AGENT:
            return self.id
        if self.key is not None:
            return f"person:{self.key}"
        return f"{self.type}:{self.id}"


def subject_kind(snapshot: Snapshot, subject_type: str) -> SubjectKind | None:
    """What ``subject_type`` names under the org policy in force, or ``None`` (unknown type)."""
    mapped = snapshot.org_policy.subjects.get(subject_type)
    if mapped is not None:
        return SubjectKind(mapped)
    return BUILT_IN_TYPES.get(subject_type)


def resolve_subject(
    snapshot: Snapshot,
    subject_type: str,
    subject_id: str,
    properties: Mapping[str, Any] | None = None,
) -> ResolvedSubject:
    """Resolve ``{type, id}`` against the registry and the directory of ``snapshot``.

    ``properties`` (what the PEP sent) never identify anyone: only the id does.
    """
    del properties  # the PEP's claims about the subject name nobody; kept for the signature
    kind = subject_kind(snapshot, subject_type)
    if kind is None:
        known = sorted({*BUILT_IN_TYPES, *snapshot.org_policy.subjects})
        return ResolvedSubject(
            subject_type,
            subject_id,
            None,
            None,
            reason=Reason(
                ReasonCode.UNKNOWN_SUBJECT_TYPE,
                f"subject type {subject_type!r} names nothing Charter knows (known: "
                f"{', '.join(known)}; the org policy's 'subjects:' maps more)",
            ),
        )
    if kind is SubjectKind.AGENT:
        if subject_id in snapshot.agents:
            return ResolvedSubject(subject_type, subject_id, kind, subject_id)
        return ResolvedSubject(
            subject_type,
            subject_id,
            kind,
            None,
            reason=Reason(ReasonCode.UNKNOWN_AGENT, f"no agent named {subject_id!r} is registered"),
        )
    person = snapshot.find_person(subject_id)
    if person is None:
        return ResolvedSubject(
            subject_type,
            subject_id,
            kind,
            None,
            reason=Reason(
                ReasonCode.UNKNOWN_SUBJECT,
                f"no person in the directory has the e-mail or external id {subject_id!r}"
                + (" (two people carry it)" if snapshot.aliases.get(subject_id) == "" else ""),
            ),
        )
    return ResolvedSubject(subject_type, subject_id, kind, person.email, person)
