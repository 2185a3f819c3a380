"""A least-privilege charter drafted from observed behaviour (``charter draft NAME``).

Pure: the service streams the agent's observed calls in (:meth:`Drafter.add`)
and hands over the other evidence it found (:class:`DraftEvidence`: the owner
attribution suggests, identities, cloud last-used data, scan findings); the
drafter writes a charter that allows what the agent actually did, and no more:

* one allow rule per action and resource the agent used; the resources of one
  action are generalised to ``parent/*`` only where the pattern is clear
  (at least :data:`GENERALISE_FROM` distinct resources under one parent);
* a schedule when the calls show one (at least :data:`SCHEDULE_FROM` calls on
  :data:`SCHEDULE_DAYS` dates, all on some weekdays or within some hours, UTC), on
  every rule;
* argument ranges (``args.NAME`` between two round bounds) when every call of a
  rule carried that numeric argument (at least :data:`RANGE_FROM` calls);
* delegation only if calls were made on behalf of people;
* an owner suggestion, an expiry, and a comment per rule naming its evidence.

The text is valid input to ``charter agent register`` and to ``charter what-if``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from charter.domain.charter import CharterSpec
from charter.domain.charter_parsing import parse_charter
from charter.domain.conditions import from_epoch_micros
from charter.domain.enums import Weekday
from charter.errors import InvalidInput

GENERALISE_FROM = 3  # distinct resources under one parent before ``parent/*``
SCHEDULE_FROM = 20  # calls before the drafter believes a schedule
SCHEDULE_DAYS = 7  # ...spread over at least this many dates (a burst shows no week)
RANGE_FROM = 5  # calls with a numeric argument before it bounds the argument
DEFAULT_EXPIRY_DAYS = 90
MAX_RULES = 200
_DAYS = list(Weekday)


@dataclass(slots=True)
class Usage:
    """What one (action, resource) saw."""

    count: int = 0
    first_us: int = 2**63
    last_us: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    with_args: int = 0
    #: numeric ``args.NAME`` → (lowest, highest, calls that carried it)
    args: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DraftEvidence:
    """Everything besides the calls: who owns it, what it holds, what else was seen."""

    name: str
    today: dt.date
    window_days: int
    owner: str | None = None
    owner_reason: str = ""
    purpose: str | None = None
    identities: tuple[str, ...] = ()
    #: other evidence worth a line in the file: cloud last-used data, scan findings
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Draft:
    spec: CharterSpec
    text: str
    rules: int
    calls: int


def _nice_ceil(value: float) -> float:
    if value <= 0:
        return 0 if value == 0 else -_nice_floor(-value)
    step = 10 ** max(0, math.floor(math.log10(value)))
    return float(math.ceil(value / step) * step)


def _nice_floor(value: float) -> float:
    if value <= 0:
        return 0 if value == 0 else -_nice_ceil(-value)
    step = 10 ** max(0, math.floor(math.log10(value)))
    return float(math.floor(value / step) * step)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class Drafter:
    """Accumulates observed calls (streamed), then writes the draft."""

    def __init__(self) -> None:
        self.usage: dict[tuple[str, str], Usage] = {}
        self.calls = 0
        self.delegated = 0
        self._weekdays: set[int] = set()
        self._hours: set[int] = set()
        self._dates: set[dt.date] = set()

    def add(
        self,
        moment_us: int,
        action: str,
        resource: str,
        on_behalf_of: str | None,
        context: Mapping[str, Any] | None,
        source: str,
    ) -> None:
        usage = self.usage.get((action, resource))
        if usage is None:
            usage = self.usage[(action, resource)] = Usage()
        usage.count += 1
        usage.first_us = min(usage.first_us, moment_us)
        usage.last_us = max(usage.last_us, moment_us)
        usage.sources[source] = usage.sources.get(source, 0) + 1
        self.calls += 1
        if on_behalf_of:
            self.delegated += 1
        moment = from_epoch_micros(moment_us)
        self._weekdays.add(moment.weekday())
        self._hours.add(moment.hour)
        self._dates.add(moment.date())
        args = context.get("args") if isinstance(context, Mapping) else None
        if isinstance(args, Mapping):
            usage.with_args += 1
            for key, value in args.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                if not isinstance(key, str) or not key.replace("_", "a").isalnum():
                    continue
                bounds = usage.args.get(key)
                if bounds is None:
                    usage.args[key] = [value, value, 1]
                else:
                    bounds[0] = min(bounds[0], value)
                    bounds[1] = max(bounds[1], value)
                    bounds[2] += 1

    # -- the charter ------------------------------------------------------------------------
    def schedule(self) -> dict[str, Any] | None:
        """The week the calls fit in (UTC), when there are enough of them to believe it."""
        if self.calls < SCHEDULE_FROM or len(self._dates) < SCHEDULE_DAYS:
            return None
        days = sorted(self._weekdays)
        hours = sorted(self._hours)
        start, end = hours[0], hours[-1] + 1
        if len(days) == 7 and end - start >= 24:
            return None
        found: dict[str, Any] = {"timezone": "UTC", "days": [_DAYS[d].value for d in days]}
        if end - start < 24:
            found["start"] = f"{start:02d}:00"
            found["end"] = f"{end:02d}:00" if end < 24 else "24:00"
        return found

    def _groups(self) -> list[tuple[str, str, list[tuple[str, Usage]]]]:
        """(action, resource pattern, the usages it covers), generalised where clear."""
        by_action: dict[str, list[tuple[str, Usage]]] = {}
        for (action, resource), usage in self.usage.items():
            by_action.setdefault(action, []).append((resource, usage))
        groups: list[tuple[str, str, list[tuple[str, Usage]]]] = []
        for action in sorted(by_action):
            by_parent: dict[str, list[tuple[str, Usage]]] = {}
            for resource, usage in sorted(by_action[action]):
                parent, slash, _leaf = resource.rpartition("/")
                key = f"{parent}/" if slash else f"\0{resource}"
                by_parent.setdefault(key, []).append((resource, usage))
            for parent, members in sorted(by_parent.items()):
                if not parent.startswith("\0") and len(members) >= GENERALISE_FROM:
                    pattern = _escape(parent) + "*"
                    groups.append((action, pattern, members))
                else:
                    groups.extend((action, _escape(r), [(r, u)]) for r, u in members)
        return groups

    def draft(
        self, evidence: DraftEvidence, *, expires_in_days: int = DEFAULT_EXPIRY_DAYS
    ) -> Draft:
        if self.calls == 0:
            raise InvalidInput(
                f"no observed calls of {evidence.name!r} in the last {evidence.window_days} "
                "days: nothing to draft a charter from",
                field="name",
            )
        if not evidence.owner:
            raise InvalidInput(
                f"attribution suggests no owner for {evidence.name!r}; name one with --owner",
                field="owner",
            )
        schedule = self.schedule()
        groups = self._groups()
        if len(groups) > MAX_RULES:
            raise InvalidInput(
                f"{len(groups)} rules would be drafted (at most {MAX_RULES}): the behaviour "
                "shows no clear pattern; write this charter by hand",
                field="name",
            )
        rules: list[tuple[dict[str, Any], str]] = []
        for action, pattern, members in groups:
            rule, comment = _rule(action, pattern, members, schedule)
            rules.append((rule, comment))
        actions = sorted({action for action, _pattern, _members in groups})
        purpose = evidence.purpose or (
            f"Drafted from {self.calls} observed calls: {', '.join(actions[:8])}"
            + (" and more" if len(actions) > 8 else "")
            + ". Replace with the agent's purpose in plain words."
        )
        document: dict[str, Any] = {
            "name": evidence.name,
            "owner": evidence.owner,
            "purpose": purpose[:2000],
            "labels": {"origin": "drafted"},
            "allow": [rule for rule, _comment in rules],
            "delegation": {"allowed": self.delegated > 0},
            "expires": (evidence.today + dt.timedelta(days=expires_in_days)).isoformat(),
            "identities": list(evidence.identities[:256]),
        }
        spec = parse_charter(document)
        text = _render(document, rules, evidence, self, schedule)
        return Draft(spec, text, len(rules), self.calls)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*")


def _day(moment_us: int) -> str:
    return from_epoch_micros(moment_us).date().isoformat()


def _rule(
    action: str,
    pattern: str,
    members: list[tuple[str, Usage]],
    schedule: dict[str, Any] | None,
) -> tuple[dict[str, Any], str]:
    count = sum(u.count for _r, u in members)
    first = min(u.first_us for _r, u in members)
    last = max(u.last_us for _r, u in members)
    sources: dict[str, int] = {}
    for _r, usage in members:
        for source, n in usage.sources.items():
            sources[source] = sources.get(source, 0) + n
    said = ", ".join(f"{source} {n}" for source, n in sorted(sources.items()))
    where = (
        f"{len(members)} resources under {pattern[:-1]}" if len(members) > 1 else "this resource"
    )
    comment = f"{count} calls ({said}) on {where}, {_day(first)} to {_day(last)}"
    rule: dict[str, Any] = {"action": _escape(action), "resource": pattern}
    conditions: list[dict[str, Any]] = []
    with_args = sum(u.with_args for _r, u in members)
    if with_args == count and count >= RANGE_FROM:
        keys = set.intersection(*(set(u.args) for _r, u in members))
        for key in sorted(keys):
            seen = [u.args[key] for _r, u in members]
            if sum(int(b[2]) for b in seen) != count:
                continue  # not every call carried it
            low = min(b[0] for b in seen)
            high = max(b[1] for b in seen)
            floor = 0.0 if low >= 0 else _nice_floor(low)
            ceiling = _nice_ceil(high)
            conditions.append({"attribute": f"args.{key}", "op": "ge", "value": _number(floor)})
            conditions.append({"attribute": f"args.{key}", "op": "le", "value": _number(ceiling)})
            comment += f"; args.{key} seen from {_number(low)} to {_number(high)}"
    if conditions:
        rule["when"] = conditions[:32]
    if schedule is not None:
        rule["schedule"] = schedule
        comment += "; every call fell in the schedule"
    return rule, comment


class _Dumper(yaml.SafeDumper):
    """Short lists of plain values on one line (``days: [mon, tue]``), the rest as blocks."""


def _flow_lists(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.SequenceNode:
    flat = all(isinstance(item, str | int | float | bool) for item in items)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat)


_Dumper.add_representer(list, _flow_lists)


def _dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _render(
    document: dict[str, Any],
    rules: list[tuple[dict[str, Any], str]],
    evidence: DraftEvidence,
    drafter: Drafter,
    schedule: dict[str, Any] | None,
) -> str:
    lines = [
        f"# {evidence.name}: a least-privilege charter drafted by Charter on "
        f"{evidence.today.isoformat()}",
        f"# from {drafter.calls} calls observed in the last {evidence.window_days} days "
        "(gateway, SDK and decision logs).",
        "# Review it, then: charter what-if FILE; charter agent register FILE",
    ]
    head = {k: document[k] for k in ("name", "owner", "purpose", "labels")}
    text = _dump(head)
    if evidence.owner_reason:
        text = text.replace(
            "\nowner:", f"\n# owner suggested by {evidence.owner_reason}\nowner:", 1
        )
    lines.append(text.rstrip("\n"))
    lines.append("allow:")
    for rule, comment in rules:
        lines.append(f"  # evidence: {comment}")
        body = _dump([rule]).rstrip("\n")
        lines.extend("  " + line for line in body.splitlines())
    if schedule is None:
        lines.append(
            "# no schedule: the calls came on every day, at every hour, or too few to tell"
        )
    delegation_note = (
        f"# {drafter.delegated} calls were made on behalf of people"
        if drafter.delegated
        else "# no call was made on behalf of a person"
    )
    lines.append(delegation_note)
    lines.append(_dump({"delegation": document["delegation"]}).rstrip("\n"))
    lines.append(f"# expiry: a drafted charter is reviewed within {DEFAULT_EXPIRY_DAYS} days")
    lines.append(_dump({"expires": document["expires"]}).rstrip("\n"))
    for note in evidence.notes:
        lines.append(f"# seen elsewhere: {note}")
    if document["identities"]:
        lines.append(_dump({"identities": document["identities"]}).rstrip("\n"))
    return "\n".join(lines) + "\n"
