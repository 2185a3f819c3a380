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
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.compiled import ANY, EXACT, NEVER_US, Rule, RuleKind, Snapshot, compile_rules
from charter.domain.conditions import (
    BOOL,
    NUM,
    STR,
    WEEKDAYS,
    CompiledCondition,
    Threshold,
    decimal_text,
    from_epoch_micros,
    local_clock,
    lookup,
    parse_ip,
    scalar,
)
from charter.domain.decision import ReasonCode
from charter.domain.enums import ConditionOp
from charter.domain.patterns import Pattern

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def cedar_string(text: str) -> str:
    """A Cedar string literal."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def like_pattern(pattern: Pattern) -> str:
    """Our pattern as a Cedar ``like`` pattern literal (``*`` wildcard, ``\\*`` a star)."""
    pieces = [cedar_string(piece)[1:-1].replace("*", "\\*") for piece in pattern.pieces]
    return '"' + "*".join(pieces) + '"'


def _uid(kind: str, name: str) -> str:
    return f"{kind}::{cedar_string(name)}"


def _all(parts: Iterable[str]) -> str:
    items = [p for p in parts if p != "true"]
    if "false" in items:
        return "false"
    return " && ".join(items) if items else "true"


def _any(parts: Iterable[str]) -> str:
    items = [p for p in parts if p != "false"]
    if "true" in items:
        return "true"
    if not items:
        return "false"
    return items[0] if len(items) == 1 else "(" + " || ".join(items) + ")"


def _group(expression: str) -> str:
    """Parenthesise (always, unless a constant): precedence must never depend on the caller."""
    if expression in ("true", "false"):
        return expression
    return f"({expression})"


def _not(expression: str) -> str:
    if expression == "true":
        return "false"
    if expression == "false":
        return "true"
    return f"!{_group(expression)}"


_MAP = {STR: "context.str", NUM: "context.num", BOOL: "context.bool"}
_DECIMAL_METHOD = {
    ConditionOp.LT: "lessThan",
    ConditionOp.LE: "lessThanOrEqual",
    ConditionOp.GT: "greaterThan",
    ConditionOp.GE: "greaterThanOrEqual",
}


def _literal(kind: int, value: Any) -> str:
    if kind == NUM:
        return f'decimal("{decimal_text(value)}")'
    if kind == BOOL:
        return "true" if value else "false"
    return cedar_string(value)


def _condition(compiled: CompiledCondition, *, deny: bool) -> str:
    """The condition as a total Cedar expression:
    true iff it is true (allow) or not false (deny).
    """
    condition = compiled.condition
    key = cedar_string(condition.attribute)
    op = condition.op
    if op in (ConditionOp.EQ, ConditionOp.NE, ConditionOp.IN, ConditionOp.NOT_IN):
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        members = {s for s in (scalar(v) for v in values) if s is not None}
        tests = []
        for kind in (STR, NUM, BOOL):
            literals = sorted(_literal(k, v) for k, v in members if k == kind)
            if not literals:
                continue
            value = f"{_MAP[kind]}[{key}]"
            test = (
                f"{value} == {literals[0]}"
                if len(literals) == 1
                else f"[{', '.join(literals)}].contains({value})"
            )
            tests.append(f"({_MAP[kind]} has {key} && {test})")
        equal = _any(tests)
        present = "(" + " || ".join(f"{_MAP[k]} has {key}" for k in (STR, NUM, BOOL)) + ")"
        outcome = equal if op in (ConditionOp.EQ, ConditionOp.IN) else _not(equal)
        if deny:
            return f"(if {present} then {outcome} else true)"
        return _all([present, outcome])
    if op in (ConditionOp.LT, ConditionOp.LE, ConditionOp.GT, ConditionOp.GE):
        assert isinstance(condition.value, int | float)
        threshold = Threshold.of(op, condition.value)
        constant = threshold.constant
        guard, value = f"context.num has {key}", f"context.num[{key}]"
        if constant is None:
            outcome = f'{value}.{_DECIMAL_METHOD[op]}(decimal("{decimal_text(threshold.bound)}"))'
        else:
            outcome = "true" if constant else "false"
    elif op == ConditionOp.PREFIX:
        guard, value = f"context.str has {key}", f"context.str[{key}]"
        prefix = str(condition.value)
        outcome = f"{value} like {like_pattern(Pattern(prefix, (prefix, '')))}"
    else:
        guard, value = f"context.ip has {key}", f"context.ip[{key}]"
        network = ipaddress.ip_network(str(condition.value), strict=False)
        outcome = f'{value}.isInRange(ip("{network.network_address.exploded}/{network.prefixlen}"))'
    if deny:
        return f"(if {guard} then {outcome} else true)"
    return _all([guard, outcome])


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
    ) -> dict[str, Any]:
        """The Cedar request (cedarpy's dict form) for a Charter request."""
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
            "principal": {"type": "Agent", "id": agent},
            "action": {"type": "Action", "id": action},
            "resource": {"type": "Resource", "id": resource},
            "context": cedar_context,
        }


def _role_expression(snapshot: Snapshot) -> str:
    alternatives = []
    for role in snapshot.roles.roles:
        member = _any(f"context.on_behalf_of in {_uid('Group', g)}" for g in role.groups)
        rules = compile_rules(
            ((role.rule_id(i), c) for i, c in enumerate(role.allow)), RuleKind.ALLOW
        )
        capabilities = _any(_group(_all(_target_expression(r) + _body(r))) for r in rules.rules)
        alternatives.append(_group(_all([member, capabilities])))
    return _any(alternatives)


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
        all_rules.extend(
            compile_rules(
                ((role.rule_id(i), c) for i, c in enumerate(role.allow)), RuleKind.ALLOW
            ).rules
        )
    for person in snapshot.people.values():
        groups.update(person.groups)
    zones = sorted({r.schedule.zone for r in all_rules if r.schedule is not None})
    attributes = sorted({c.attribute for r in all_rules for c in r.conditions})
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
        "  principal: [Agent],\n"
        "  resource: [Resource],\n"
        "  context: Context,\n"
        "};\n"
    )
