"""Cedar export: the compiled policy as Cedar policies, a Cedar schema and entities.

Cedar is our reference semantics (DESIGN): a property test evaluates random
estates with our engine and with Cedar on this export and requires the same
decision every time. The mapping:

* principal ``Agent::"<name>"``, action ``Action::"<action>"``, resource
  ``Resource::"<system:path>"``; the delegator ``Person::"<email>"`` (parents:
  ``Group::"<group>"``, attribute ``active``) in ``context.on_behalf_of``.
* Cedar matches patterns on strings only, so the request also carries
  ``context.action`` and ``context.resource``; our ``*`` patterns become
  ``like`` patterns (the same language, see :mod:`charter.domain.patterns`).
* Context attributes are passed *typed and flat*: ``context.str``,
  ``context.num`` (``decimal``), ``context.bool`` and ``context.ip``
  (``ipaddr``, for strings holding an address), keyed by the dotted path. That
  makes every condition total (no Cedar evaluation errors, which Cedar would
  silently skip, opening a deny) and gives "missing" one meaning in both engines.
* ``context.now`` is the request time in epoch microseconds; ``context.clock``
  holds the local weekday and minute in each time zone a schedule names.

Build the Cedar request for a Charter request with :meth:`CedarExport.request`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.cedar_conditions import (
    _all,
    _any,
    _condition,
    _group,
    _not,
    _uid,
    cedar_string,
    like_pattern,
)
from charter.domain.compiled import ANY, EXACT, NEVER_US, Rule, RuleKind, Snapshot, compile_rules
from charter.domain.conditions import (
    NUM,
    STR,
    WEEKDAYS,
    decimal_text,
    from_epoch_micros,
    local_clock,
    lookup,
    parse_ip,
    scalar,
)
from charter.domain.decision import ReasonCode
from charter.domain.roles import Role


def _gates(rule: Rule) -> list[str]:
    parts = []
    if rule.validity is not None:
        if rule.validity.start is not None:
            parts.append(f"context.now >= {rule.validity.start}")
        if rule.validity.end is not None:
            parts.append(f"context.now < {rule.validity.end}")
    schedule = rule.schedule
    if schedule is not None:
        clock = f"context.clock[{cedar_string(schedule.zone)}]"
        if len(schedule.days) < 7:
            days = ", ".join(f'"{WEEKDAYS[d].value}"' for d in sorted(schedule.days))
            parts.append(f"[{days}].contains({clock}.day)")
        start, end = schedule.start, schedule.end
        if start == end:
            parts.append("false")
        elif start < end:
            if start > 0:
                parts.append(f"{clock}.minute >= {start}")
            if end < 1440:
                parts.append(f"{clock}.minute < {end}")
        else:
            parts.append(f"({clock}.minute >= {start} || {clock}.minute < {end})")
    return parts


def _target(rule: Rule) -> tuple[str, str, list[str]]:
    """(action scope, resource scope, when-clause parts) for a rule's patterns."""
    action_scope, resource_scope, when = "action", "resource", []
    if rule.action.is_exact:
        action_scope = f"action == {_uid('Action', rule.action.pieces[0])}"
    elif rule.action.pieces != ("", ""):
        when.append(f"context.action like {like_pattern(rule.action)}")
    if rule.res_mode == EXACT:
        resource_scope = f"resource == {_uid('Resource', rule.res_text)}"
    elif rule.res_mode != ANY:
        when.append(f"context.resource like {like_pattern(rule.resource)}")
    return action_scope, resource_scope, when


def _target_expression(rule: Rule) -> list[str]:
    parts = []
    if rule.action.is_exact:
        parts.append(f"action == {_uid('Action', rule.action.pieces[0])}")
    if rule.res_mode == EXACT:
        parts.append(f"resource == {_uid('Resource', rule.res_text)}")
    return parts + _target(rule)[2]


def _body(rule: Rule) -> list[str]:
    deny = rule.kind == RuleKind.DENY
    return _gates(rule) + [_condition(c, deny=deny) for c in rule.conditions]


def _policy(
    effect: str,
    rule_id: str,
    principal: str,
    rule: Rule | None,
    extra: list[str],
    reason: str | None,
) -> str:
    action_scope, resource_scope = "action", "resource"
    when: list[str] = []
    if rule is not None:
        action_scope, resource_scope, when = _target(rule)
        when = when + _body(rule)
    head = f"@id({cedar_string(rule_id)})\n"
    if reason:
        head += f"@reason({cedar_string(reason)})\n"
    condition = _all(when + extra)
    clause = "" if condition == "true" else f"\nwhen {{ {condition} }}"
    return f"{head}{effect} ({principal}, {action_scope}, {resource_scope}){clause};"


@dataclass(frozen=True, slots=True)
class CedarExport:
    policies: str
    schema: str
    entities: list[dict[str, Any]]
    zones: tuple[str, ...]
    attributes: tuple[str, ...]
    actions: tuple[str, ...]

    def request(
        self,
        agent: str,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None,
        on_behalf_of: str | None,
        now_us: int,
        *,
        principal: str = "Agent",
    ) -> dict[str, Any]:
        """The Cedar request (cedarpy's dict form) for a Charter request.

        For a person decided on directly, ``principal="Person"``, ``agent`` is their
        e-mail and ``context`` the one :func:`~charter.domain.person_decisions.person_context`
        gives (with the directory's ``subject.properties``).
        """
        values: dict[str, dict[str, Any]] = {"str": {}, "num": {}, "bool": {}, "ip": {}}
        for attribute in self.attributes:
            raw = lookup(context or {}, tuple(attribute.split(".")))
            value = scalar(raw)
            if value is None:
                continue
            kind, normalised = value
            if kind == STR:
                values["str"][attribute] = normalised
                address = parse_ip(normalised)
                if address is not None:
                    values["ip"][attribute] = {"__extn": {"fn": "ip", "arg": address.exploded}}
            elif kind == NUM:
                values["num"][attribute] = {
                    "__extn": {"fn": "decimal", "arg": decimal_text(normalised)}
                }
            else:
                values["bool"][attribute] = normalised
        clock = {}
        for zone in self.zones:
            weekday, minute = local_clock(zone, now_us)
            clock[zone] = {"day": WEEKDAYS[weekday].value, "minute": minute}
        cedar_context: dict[str, Any] = {
            "action": action,
            "resource": resource,
            "now": now_us,
            **values,
            "clock": clock,
        }
        if on_behalf_of is not None:
            cedar_context["on_behalf_of"] = {
                "__entity": {"type": "Person", "id": on_behalf_of.lower()}
            }
        return {
            "principal": {"type": principal, "id": agent},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Resource", "id": resource},
            "context": cedar_context,
        }


def _role_capabilities(role: Role) -> str:
    rules = compile_rules(((role.rule_id(i), c) for i, c in enumerate(role.allow)), RuleKind.ALLOW)
    return _any(_group(_all(_target_expression(r) + _body(r))) for r in rules.rules)


def _role_expression(snapshot: Snapshot) -> str:
    alternatives = []
    for role in snapshot.roles.roles:
        member = _any(f"context.on_behalf_of in {_uid('Group', g)}" for g in role.groups)
        alternatives.append(_group(_all([member, _role_capabilities(role)])))
    return _any(alternatives)


def _person_policy(role: Role) -> str:
    """A person decided on directly: an active member of one of the role's groups."""
    member = _group(_any(f"principal in {_uid('Group', g)}" for g in role.groups))
    return _policy(
        "permit",
        f"person/role/{role.name}",
        "principal",
        None,
        ["principal is Person", member, "principal.active", _group(_role_capabilities(role))],
        None,
    )


def export_cedar(snapshot: Snapshot, *, generated_at: dt.datetime | None = None) -> CedarExport:
    """Export the snapshot's active charters, org policy, roles and people."""
    blocks: list[str] = []
    stamp = (generated_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    blocks.append(
        f"// Charter policy export, generated {stamp}. Regenerate with 'charter export cedar'.\n"
        "// Request encoding: docs/decisions.md, section 'Cedar'."
    )
    all_rules: list[Rule] = list(snapshot.org.rules)
    for rule in snapshot.org.rules:
        blocks.append(
            _policy("forbid", rule.id, "principal", rule, [], ReasonCode.ORG_POLICY_DENIED.value)
        )
    on_behalf = "context has on_behalf_of"
    blocks.append(
        _policy(
            "forbid",
            "delegation/unknown-person",
            "principal",
            None,
            [on_behalf, "!(context.on_behalf_of has active)"],
            ReasonCode.UNKNOWN_DELEGATOR.value,
        )
    )
    blocks.append(
        _policy(
            "forbid",
            "delegation/departed-person",
            "principal",
            None,
            [on_behalf, "context.on_behalf_of has active", "!context.on_behalf_of.active"],
            ReasonCode.DELEGATOR_DEPARTED.value,
        )
    )
    blocks.append(
        _policy(
            "forbid",
            "delegation/roles",
            "principal",
            None,
            [on_behalf, _not(_role_expression(snapshot))],
            ReasonCode.DELEGATOR_LACKS_ACCESS.value,
        )
    )
    groups: set[str] = set()
    agents: list[str] = []
    for name in sorted(snapshot.agents):
        compiled = snapshot.agents[name]
        if not compiled.active:
            continue
        agents.append(name)
        principal = f"principal == {_uid('Agent', name)}"
        blocks.append(
            f"// agent {name} (charter v{compiled.charter_version}, owner {compiled.owner})"
        )
        for rule in compiled.allows.rules:
            if rule.approve is not None:  # allowed only per call, once approved: no permit
                blocks.append(f"// {rule.id} needs approval per call: not a standing permit")
                continue
            blocks.append(_policy("permit", rule.id, principal, rule, [], None))
        for rule in compiled.denies.rules:
            blocks.append(
                _policy("forbid", rule.id, principal, rule, [], ReasonCode.EXPLICITLY_DENIED.value)
            )
        all_rules.extend(compiled.allows.rules)
        all_rules.extend(compiled.denies.rules)
        if compiled.expires_us != NEVER_US:
            last = from_epoch_micros(compiled.expires_us - 1).date()
            blocks.append(
                f"// the charter is valid through {last} (UTC)\n"
                + _policy(
                    "forbid",
                    f"charter/{name}/expiry",
                    principal,
                    None,
                    [f"context.now >= {compiled.expires_us}"],
                    ReasonCode.CHARTER_EXPIRED.value,
                )
            )
        if compiled.delegation_groups is not None:
            groups.update(compiled.delegation_groups)
            accepted = _any(
                f"context.on_behalf_of in {_uid('Group', g)}"
                for g in sorted(compiled.delegation_groups)
            )
            blocks.append(
                _policy(
                    "forbid",
                    f"charter/{name}/delegation",
                    principal,
                    None,
                    [on_behalf, _not(accepted)],
                    ReasonCode.DELEGATION_NOT_ALLOWED.value,
                )
            )
    for role in snapshot.roles.roles:
        groups.update(role.groups)
        blocks.append(_person_policy(role))
        all_rules.extend(
            compile_rules(
                ((role.rule_id(i), c) for i, c in enumerate(role.allow)), RuleKind.ALLOW
            ).rules
        )
    for person in snapshot.people.values():
        groups.update(person.groups)
    zones = sorted({r.schedule.zone for r in all_rules if r.schedule is not None})
    attributes = sorted(
        {c.attribute for r in all_rules for c in r.conditions}
        | {c.condition.reference for r in all_rules for c in r.conditions if c.condition.reference}
    )
    actions = sorted({r.action.pieces[0] for r in all_rules if r.action.is_exact})
    entities: list[dict[str, Any]] = [
        {"uid": {"type": "Group", "id": g}, "attrs": {}, "parents": []} for g in sorted(groups)
    ]
    entities += [
        {
            "uid": {"type": "Person", "id": p.email},
            "attrs": {"active": p.active},
            "parents": [{"type": "Group", "id": g} for g in p.groups],
        }
        for p in sorted(snapshot.people.values(), key=lambda p: p.email)
    ]
    entities += [{"uid": {"type": "Agent", "id": a}, "attrs": {}, "parents": []} for a in agents]
    return CedarExport(
        policies="\n\n".join(blocks) + "\n",
        schema=_schema(zones, attributes, actions),
        entities=entities,
        zones=tuple(zones),
        attributes=tuple(attributes),
        actions=tuple(actions),
    )


def _schema(zones: list[str], attributes: list[str], actions: list[str]) -> str:
    def record(kind: str) -> str:
        return "{" + ", ".join(f"{cedar_string(a)}?: {kind}" for a in attributes) + "}"

    clock = ", ".join(f"{cedar_string(z)}: Clock" for z in zones)
    names = ", ".join(cedar_string(a) for a in actions) or '"call"'
    return (
        "// Charter's Cedar schema: see docs/decisions.md, section 'Cedar'.\n"
        "entity Group;\n"
        "entity Person in [Group] { active: Bool };\n"
        "entity Agent;\n"
        "entity Resource;\n"
        "type Clock = { day: String, minute: Long };\n"
        "type Context = {\n"
        "  action: String,\n"
        "  resource: String,\n"
        "  now: Long,\n"
        "  on_behalf_of?: Person,\n"
        f"  str: {record('String')},\n"
        f"  num: {record('__cedar::decimal')},\n"
        f"  bool: {record('Bool')},\n"
        f"  ip: {record('__cedar::ipaddr')},\n"
        f"  clock: {{{clock}}},\n"
        "};\n"
        f"action {names} appliesTo {{\n"
        "  principal: [Agent, Person],\n"
        "  resource: [Resource],\n"
        "  context: Context,\n"
        "};\n"
    )
