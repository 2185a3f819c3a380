"""The AuthZEN Search API over the compiled policy: who may, what on, which actions.

A search answers with exactly the entities an evaluation of the same subject,
action, resource and context would allow: candidates come from the policy, and
each candidate is kept only if :func:`allows` — which, for an agent, *is*
:func:`~charter.domain.evaluation.evaluate` — says so. Nothing is returned that
an evaluation would deny; what a condition cannot decide without context is
not returned (an allow needs every condition true).

Resource ids, the convention (a charter grants patterns, not lists):

* a rule's exact resource ``zendesk:tickets/4711`` is the result ``tickets/4711``;
* a rule's pattern ``zendesk:tickets/*`` is the result ``tickets/*`` with
  ``properties.pattern: true``: the pattern itself, with each wildcard written
  ``*``. Evaluated as a literal id it is allowed (that is how it was kept), and,
  since a deny pattern that matches the literal covers every value of the
  pattern, it stands for all the resources it matches (deny rules that cut into
  it are listed in ``properties.excluding``);
* a pattern spanning systems (``*``, ``*/secret``) becomes its form inside the
  requested system (``*``, ``*/secret``);
* resources other rules name exactly (another charter, a role, the org policy)
  are *known* resources, returned when the subject's rules allow them.

Actions follow the same convention (``tickets.*`` with ``pattern: true``, plus
every action the policy names exactly that the pattern matches).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.access_map import may_overlap
from charter.domain.compiled import ANY, EXACT, PREFIX, Rule, Snapshot
from charter.domain.evaluation import evaluate
from charter.domain.patterns import Pattern
from charter.domain.person_decisions import evaluate_person
from charter.domain.search_vocabulary import Vocabulary
from charter.domain.subjects import ResolvedSubject, SubjectKind, subject_kind
from charter.domain.subjects import resolve_subject as resolve_evaluation_subject

logger = logging.getLogger("charter.search")

AGENT_TYPE = "agent"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a search is about: an agent (by name) or a person (by e-mail, lower case)."""

    kind: SubjectKind
    id: str
    #: how the decision point resolved it (the id the PEP sent, the directory entry)
    resolved: ResolvedSubject | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """One search result: an id (resource path, action name or subject id) and its properties."""

    id: str
    properties: Mapping[str, Any] | None = None

    def entity(self, key: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {**(extra or {}), key: self.id}
        if self.properties:
            out["properties"] = dict(self.properties)
        return out


def resolve_subject(snapshot: Snapshot, subject_type: str, subject_id: str) -> Subject | None:
    """A search subject, looked up as the decision point looks up an evaluation's subject
    (:func:`charter.domain.subjects.resolve_subject`: type mapping, e-mail, external ids).
    ``None``: nobody by that id, or a type Charter does not know."""
    resolved = resolve_evaluation_subject(snapshot, subject_type, subject_id)
    if resolved.reason is not None or resolved.kind is None or resolved.key is None:
        return None
    return Subject(resolved.kind, resolved.key, resolved)


def person_allows(
    snapshot: Snapshot,
    email: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    now_us: int,
) -> bool:
    """A person's own access, as an evaluation decides it (:func:`evaluate_person`)."""
    person = snapshot.people.get(email)
    if person is None or not person.active:
        return False
    subject = ResolvedSubject("user", email, SubjectKind.PERSON, email, person)
    return evaluate_person(snapshot, subject, action, resource, context, now_us).allowed


def allows(
    snapshot: Snapshot,
    subject: Subject,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    on_behalf_of: str | None,
    now_us: int,
) -> bool:
    """Whether an evaluation of this request would allow it (the test every result passes)."""
    if subject.kind is SubjectKind.AGENT:
        decision = evaluate(snapshot, subject.id, action, resource, context, on_behalf_of, now_us)
        return decision.allowed
    if subject.resolved is not None:  # the id the PEP sent stays the subject's id
        return evaluate_person(
            snapshot, subject.resolved, action, resource, context, now_us
        ).allowed
    return person_allows(snapshot, subject.id, action, resource, context, now_us)


def why_empty(
    snapshot: Snapshot, subject: Subject | None, subject_type: str, shown: str, now_us: int
) -> tuple[str, str] | None:
    """Why a subject can be allowed nothing at all, as (code, words): the ``context`` of
    its empty answer. ``None`` when it may be allowed something."""
    if subject is None:
        reason = resolve_evaluation_subject(snapshot, subject_type, shown).reason
        if reason is not None:
            return reason.code.value, reason.message
        return "unknown_subject", f"no subject {shown!r} of type {subject_type!r}"
    if subject.kind is SubjectKind.AGENT:
        compiled = snapshot.agents[subject.id]
        if not compiled.active:
            state = compiled.state.value
            return "agent_not_active", f"agent {subject.id!r} is {state}; only active agents act"
        if now_us >= compiled.expires_us:
            return "charter_expired", f"the charter of {subject.id!r} has expired"
        return None
    if snapshot.people[subject.id].active:
        return None
    return "subject_departed", f"{subject.id} has departed; a departed person is allowed nothing"


def literal_of(pattern: Pattern) -> str:
    """The pattern written with a plain ``*`` per wildcard: a value the pattern itself matches."""
    return "*".join(pattern.pieces)


def within(pattern: Pattern, prefix: str) -> str | None:
    """The pattern's id inside the namespace ``prefix`` (``zendesk:``), or None if it has none."""
    pieces = pattern.pieces
    head = pieces[0]
    if len(pieces) == 1:
        return head[len(prefix) :] if head.startswith(prefix) else None
    if head.startswith(prefix):
        return literal_of(pattern)[len(prefix) :]
    if prefix.startswith(head):
        return "*" + "*".join(pieces[1:])
    return None


def _known_matching(rule: Rule, prefix: str, known: tuple[str, ...]) -> Iterable[str]:
    """The known paths (of the system ``prefix`` names) that the rule's resource matches."""
    mode = rule.res_mode
    if mode == ANY:
        return known
    if mode == EXACT:
        text = rule.res_text
        return (text[len(prefix) :],) if text.startswith(prefix) else ()
    if mode == PREFIX:
        text = rule.res_text
        if text.startswith(prefix):
            start = text[len(prefix) :]
            low = bisect.bisect_left(known, start)
            high = bisect.bisect_left(known, start + "\U0010ffff")
            return known[low:high]
        return known if prefix.startswith(text) else ()
    return [path for path in known if rule.resource.matches(prefix + path)]


# -- the rules a subject may be allowed by -------------------------------------------------
def _allow_rules(
    snapshot: Snapshot, subject: Subject, action: str | None, on_behalf_of: str | None
) -> list[Rule]:
    """The allow rules that could allow the subject (for ``action``, or for any action)."""
    rules: list[Rule] = []
    groups: tuple[str, ...] | None = None
    if subject.kind is SubjectKind.AGENT:
        compiled = snapshot.agents[subject.id]
        if action is None:
            rules.extend(compiled.allows.rules)
        else:
            rules.extend(compiled.index.get(action)[1])
        if on_behalf_of is not None:
            delegator = snapshot.people.get(on_behalf_of.lower())
            groups = delegator.groups if delegator is not None else ()
    else:
        groups = snapshot.people[subject.id].groups
    if groups:
        for index in snapshot.access(groups):
            rules.extend(index.rules if action is None else index.candidates(action))
    return rules


def _excluding(
    snapshot: Snapshot,
    subject: Subject,
    action: str,
    pattern: Pattern,
    context: Mapping[str, Any],
    now_us: int,
) -> list[str]:
    """Deny rules (charter, org) that may cut into an allowed pattern in this context, as
    resource patterns: a PEP listing the pattern's resources leaves these out."""
    denies: list[Rule] = list(snapshot.org.candidates(action))
    if subject.kind is SubjectKind.AGENT:
        denies.extend(snapshot.agents[subject.id].index.get(action)[0])
    return sorted(
        {
            d.resource.text
            for d in denies
            if may_overlap(d.resource, pattern) and (d.plain or d.deny_holds(context, now_us))
        }
    )


def search_resources(
    snapshot: Snapshot,
    known: Vocabulary,
    subject: Subject,
    action: str,
    system: str,
    context: Mapping[str, Any],
    on_behalf_of: str | None,
    now_us: int,
) -> list[Found]:
    """The resources of ``system`` the subject may do ``action`` on, sorted by id."""
    prefix = f"{system}:"
    paths = known.resources.get(system, ())
    candidates: dict[str, Pattern | None] = {}
    for rule in _allow_rules(snapshot, subject, action, on_behalf_of):
        own = within(rule.resource, prefix)
        if own is not None and own not in candidates:
            candidates[own] = None if rule.resource.is_exact else rule.resource
        for path in _known_matching(rule, prefix, paths):
            candidates.setdefault(path, None)
    found: list[Found] = []
    for path, pattern in candidates.items():
        if not allows(snapshot, subject, action, prefix + path, context, on_behalf_of, now_us):
            continue
        if pattern is None:
            found.append(Found(path))
            continue
        properties: dict[str, Any] = {"pattern": True}
        excluding = _excluding(snapshot, subject, action, pattern, context, now_us)
        if excluding:
            properties["excluding"] = excluding
        found.append(Found(path, properties))
    found.sort(key=lambda item: item.id)
    return found


def search_actions(
    snapshot: Snapshot,
    known: Vocabulary,
    subject: Subject,
    resource: str,
    context: Mapping[str, Any],
    on_behalf_of: str | None,
    now_us: int,
) -> list[Found]:
    """The actions the subject may do on ``resource``, sorted by name."""
    candidates: dict[str, bool] = {}
    for rule in _allow_rules(snapshot, subject, None, on_behalf_of):
        if not rule.resource_matches(resource):
            continue
        pattern = rule.action
        if pattern.is_exact:
            candidates[pattern.pieces[0]] = False
            continue
        candidates.setdefault(literal_of(pattern), True)
        for name in known.actions:
            if pattern.matches(name):
                candidates[name] = False
    found = [
        Found(name, {"pattern": True} if is_pattern else None)
        for name, is_pattern in candidates.items()
        if allows(snapshot, subject, name, resource, context, on_behalf_of, now_us)
    ]
    found.sort(key=lambda item: item.id)
    return found


def search_subjects(
    snapshot: Snapshot,
    subject_type: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    on_behalf_of: str | None,
    now_us: int,
) -> list[Found]:
    """Who may do ``action`` on ``resource``: agents (type ``agent``), else people. Sorted."""
    found: list[Found] = []
    kind = subject_kind(snapshot, subject_type)
    if kind is SubjectKind.AGENT:
        for name, compiled in snapshot.agents.items():
            # a sound pre-filter: what evaluate() could never allow is skipped unevaluated
            if not compiled.active or now_us >= compiled.expires_us:
                continue
            candidates = compiled.index.get(action)[1]
            if not candidates or not any(r.resource_matches(resource) for r in candidates):
                continue
            decision = evaluate(snapshot, name, action, resource, context, on_behalf_of, now_us)
            if decision.allowed:
                found.append(Found(name))
    elif kind is SubjectKind.PERSON and snapshot.role_indexes:  # people: only through roles
        for email, person in snapshot.people.items():
            if person.active and person_allows(snapshot, email, action, resource, context, now_us):
                found.append(Found(email))
    found.sort(key=lambda item: item.id)
    return found
