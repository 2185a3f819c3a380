"""What-if replay: recorded activity decided again under the policy in force and a proposal.

Pure: the caller compiles two :class:`~charter.domain.compiled.Snapshot`\\ s once
(the current policy, and the same with one charter, the org policy or the roles
replaced) and feeds recorded requests in chunks; each request is decided
in-process by :func:`~charter.domain.evaluation.evaluate` under both, at the
moment it was made. Nothing is recorded: replay is a question, not activity.

Most decisions do not depend on the clock. For an agent none of whose rules (nor
the org policy's, nor the roles') has a schedule or a validity window, the pair
of decisions depends only on the request and on whether the charter had expired
by then, so it is memoised on exactly that; a timed agent's requests are each
decided at their own moment. That is what makes ten million rows a matter of
seconds: the cost is reading the rows, plus one evaluation per distinct request.

A change is reported per (agent, action, resource, person) with its count, the
first and last moment it happened and the reason the newly denying side gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from charter.domain.compiled import Snapshot
from charter.domain.conditions import epoch_micros, from_epoch_micros
from charter.domain.decision import Decision
from charter.domain.evaluation import evaluate
from charter.domain.whatif_scope import Scope

#: one recorded request: (moment: epoch µs, a datetime or an ISO text; agent; action;
#: resource; on behalf of; context as JSON text or None; the recorded outcome or None)
Row = tuple[Any, str, str, str, str | None, str | None, bool | None]

EXAMPLES = 20  # the changes listed with their examples, most frequent first
_NO_CONTEXT: dict[str, Any] = {}


class Change(StrEnum):
    NEWLY_DENIED = "newly_denied"  # allowed under the current policy, denied by the proposal
    NEWLY_ALLOWED = "newly_allowed"  # denied now, allowed by the proposal


@dataclass(slots=True)
class Bucket:
    """One kind of change for one (agent, action, resource, person)."""

    count: int
    first_us: int
    last_us: int
    reason: str


@dataclass(frozen=True, slots=True)
class ChangeExample:
    change: Change
    agent: str
    action: str
    resource: str
    on_behalf_of: str | None
    count: int
    first: dt.datetime
    last: dt.datetime
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.change.value,
            "agent": self.agent,
            "action": self.action,
            "resource": self.resource,
            "on_behalf_of": self.on_behalf_of,
            "count": self.count,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    """What a proposal would have changed on the replayed activity."""

    subject: str  # "charter support-summarizer", "org policy", "roles"
    days: int
    since: dt.datetime
    until: dt.datetime
    #: calls a changed rule (or a changed state, expiry or delegation) applies to,
    #: each decided under both
    rows: int
    allowed_now: int
    allowed_proposed: int
    newly_denied: int
    newly_allowed: int
    distinct_requests: int
    #: rows the policy in force, replayed, decides otherwise than recorded: the policy
    #: changed since, or the decision read context that was not recorded with the call
    differs_from_recorded: int = 0
    #: every call recorded in the window (those of untouched actions are decided alike)
    rows_in_window: int = 0
    by_agent: dict[str, dict[str, int]] = field(default_factory=dict)
    by_action: dict[str, dict[str, int]] = field(default_factory=dict)
    by_person: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: tuple[ChangeExample, ...] = ()

    @property
    def denies_recent(self) -> bool:
        """Whether the proposal would deny something that happened (and was allowed)."""
        return self.newly_denied > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "days": self.days,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "rows": self.rows,
            "rows_in_window": self.rows_in_window,
            "allowed_now": self.allowed_now,
            "allowed_proposed": self.allowed_proposed,
            "newly_denied": self.newly_denied,
            "newly_allowed": self.newly_allowed,
            "distinct_requests": self.distinct_requests,
            "differs_from_recorded": self.differs_from_recorded,
            "by_agent": self.by_agent,
            "by_action": self.by_action,
            "by_person": self.by_person,
            "examples": [example.to_dict() for example in self.examples],
        }

    def summary_lines(self, limit: int = 5) -> list[str]:
        """The plain-words summary the CLI prints before a change applies."""
        lines = [
            f"what-if on {self.subject}: {self.rows_in_window} calls recorded in the last "
            f"{self.days} days, {self.rows} of them touched by the change; "
            f"{self.newly_denied} allowed now would be denied, "
            f"{self.newly_allowed} denied now would be allowed"
        ]
        for example in self.examples[:limit]:
            sign = "-" if example.change is Change.NEWLY_DENIED else "+"
            person = f" for {example.on_behalf_of}" if example.on_behalf_of else ""
            lines.append(
                f"  {sign} {example.agent}: {example.action} on {example.resource}{person} "
                f"({example.count}x, last {example.last:%Y-%m-%d %H:%M}) {example.reason}"
            )
        return lines


def _timed_agents(snapshot: Snapshot) -> tuple[frozenset[str], bool]:
    """Agents whose decisions depend on the clock beyond their expiry; and whether
    every agent's does (an org policy or role rule with a schedule or window)."""

    def timed(rules: Iterable[Any]) -> bool:
        return any(rule.schedule is not None or rule.validity is not None for rule in rules)

    everyone = timed(snapshot.org.rules) or any(
        timed(index.rules) for _groups, index in snapshot.role_indexes
    )
    agents = frozenset(
        name
        for name, compiled in snapshot.agents.items()
        if timed(compiled.allows.rules) or timed(compiled.denies.rules)
    )
    return agents, everyone


def moment_us(value: Any) -> int:
    """A recorded moment as epoch µs: stores give a datetime (PostgreSQL) or ISO text."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return epoch_micros(value)


def _reason(decision: Decision) -> str:
    return "; ".join(reason.message for reason in decision.reasons)


class Replay:
    """Feed recorded requests in chunks, then take the :meth:`report`."""

    def __init__(self, current: Snapshot, proposed: Snapshot, *, subject: str) -> None:
        self._current = current
        self._proposed = proposed
        self._subject = subject
        self.scope = Scope(current, proposed)
        timed_now, all_now = _timed_agents(current)
        timed_then, all_then = _timed_agents(proposed)
        self._all_timed = all_now or all_then
        self._timed = timed_now | timed_then
        self._expiry: dict[str, tuple[int, int]] = {}
        self._memo: dict[tuple[Any, ...], tuple[bool, bool, str]] = {}
        self._contexts: dict[str, Mapping[str, Any]] = {}
        self.buckets: dict[tuple[Change, str, str, str, str | None], Bucket] = {}
        self.rows = self.allowed_now = self.allowed_proposed = self.differs = 0
        self.first_us: int | None = None
        self.last_us: int | None = None

    def _context(self, text: str | None) -> Mapping[str, Any]:
        if not text:
            return _NO_CONTEXT
        found = self._contexts.get(text)
        if found is None:
            try:
                parsed = orjson.loads(text) if isinstance(text, str) else text
            except orjson.JSONDecodeError:
                parsed = _NO_CONTEXT
            found = parsed if isinstance(parsed, dict) else _NO_CONTEXT
            if len(self._contexts) < 100_000:
                self._contexts[text] = found
        return found

    def _expires(self, agent: str) -> tuple[int, int]:
        found = self._expiry.get(agent)
        if found is None:
            never = 2**63
            now = self._current.agents.get(agent)
            then = self._proposed.agents.get(agent)
            found = (
                now.expires_us if now is not None else never,
                then.expires_us if then is not None else never,
            )
            self._expiry[agent] = found
        return found

    def _decide(
        self,
        agent: str,
        action: str,
        resource: str,
        on_behalf_of: str | None,
        context: str | None,
        now_us: int,
    ) -> tuple[bool, bool, str]:
        parsed = self._context(context)
        before = evaluate(self._current, agent, action, resource, parsed, on_behalf_of, now_us)
        after = evaluate(self._proposed, agent, action, resource, parsed, on_behalf_of, now_us)
        allowed_before, allowed_after = before.allowed, after.allowed
        reason = ""
        if allowed_before and not allowed_after:
            reason = _reason(after)
        elif allowed_after and not allowed_before:
            reason = f"was denied: {_reason(before)}; now allowed by {after.rule}"
        return allowed_before, allowed_after, reason

    def feed(self, rows: Iterable[Row]) -> None:
        memo, timed, all_timed = self._memo, self._timed, self._all_timed
        buckets = self.buckets
        touch_of = self.scope.touch
        touches: dict[tuple[str, str], Any] = {}
        rows_seen = allowed_now = allowed_proposed = differs = 0
        for moment, agent, action, resource, on_behalf_of, context, recorded in rows:
            pair = (agent, action)
            touch = touches.get(pair, False)
            if touch is False:
                touch = touches[pair] = touch_of(agent, action)
            if touch is None or not touch.applies(resource):
                continue  # no changed rule applies to it: decided alike under both
            rows_seen += 1
            now_us = -1
            if all_timed or agent in timed:
                now_us = moment_us(moment)
                allowed_before, allowed_after, reason = self._decide(
                    agent, action, resource, on_behalf_of, context, now_us
                )
            else:
                expires_now, expires_then = self._expires(agent)
                expired: tuple[bool, bool] = (False, False)
                if expires_now < 2**63 or expires_then < 2**63:
                    now_us = moment_us(moment)
                    expired = (now_us >= expires_now, now_us >= expires_then)
                key = (agent, action, resource, on_behalf_of, context, expired)
                found = memo.get(key)
                if found is None:
                    if now_us < 0:
                        now_us = moment_us(moment)
                    found = self._decide(agent, action, resource, on_behalf_of, context, now_us)
                    memo[key] = found
                allowed_before, allowed_after, reason = found
            allowed_now += allowed_before
            allowed_proposed += allowed_after
            if recorded is not None and bool(recorded) is not allowed_before:
                differs += 1
            if allowed_before is allowed_after:
                continue
            if now_us < 0:
                now_us = moment_us(moment)
            change = Change.NEWLY_DENIED if allowed_before else Change.NEWLY_ALLOWED
            bucket_key = (change, agent, action, resource, on_behalf_of)
            bucket = buckets.get(bucket_key)
            if bucket is None:
                buckets[bucket_key] = Bucket(1, now_us, now_us, reason)
            else:
                bucket.count += 1
                if now_us < bucket.first_us:
                    bucket.first_us = now_us
                if now_us > bucket.last_us:
                    bucket.last_us = now_us
        self.rows += rows_seen
        self.allowed_now += allowed_now
        self.allowed_proposed += allowed_proposed
        self.differs += differs

    def report(
        self,
        *,
        days: int,
        since: dt.datetime,
        until: dt.datetime,
        examples: int = EXAMPLES,
        rows_in_window: int | None = None,
    ) -> WhatIfReport:
        by_agent: dict[str, dict[str, int]] = {}
        by_action: dict[str, dict[str, int]] = {}
        by_person: dict[str, dict[str, int]] = {}
        newly_denied = newly_allowed = 0
        for (change, agent, action, _resource, person), bucket in self.buckets.items():
            if change is Change.NEWLY_DENIED:
                newly_denied += bucket.count
            else:
                newly_allowed += bucket.count
            for table, key in (
                (by_agent, agent),
                (by_action, action),
                (by_person, person or "(none)"),
            ):
                counts = table.setdefault(key, {Change.NEWLY_DENIED: 0, Change.NEWLY_ALLOWED: 0})
                counts[change] += bucket.count
        ranked = sorted(
            self.buckets.items(),
            key=lambda item: (item[0][0] is not Change.NEWLY_DENIED, -item[1].count, item[0][1:]),
        )
        listed = tuple(
            ChangeExample(
                change,
                agent,
                action,
                resource,
                person,
                bucket.count,
                from_epoch_micros(bucket.first_us),
                from_epoch_micros(bucket.last_us),
                bucket.reason,
            )
            for (change, agent, action, resource, person), bucket in ranked[:examples]
        )
        return WhatIfReport(
            subject=self._subject,
            days=days,
            since=since,
            until=until,
            rows=self.rows,
            allowed_now=self.allowed_now,
            allowed_proposed=self.allowed_proposed,
            newly_denied=newly_denied,
            newly_allowed=newly_allowed,
            distinct_requests=len(self._memo),
            differs_from_recorded=self.differs,
            rows_in_window=self.rows if rows_in_window is None else rows_in_window,
            by_agent=_plain(by_agent),
            by_action=_plain(by_action),
            by_person=_plain(by_person),
            examples=listed,
        )


def _plain(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {
        key: {str(change): count for change, count in counts.items()}
        for key, counts in sorted(table.items())
    }
