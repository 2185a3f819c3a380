"""Which recorded calls a proposal can change, so a replay reads and decides only those.

A decision is a function of the rules that apply to the call (org policy, the
agent's charter, the person's roles) and of the agent's state, expiry and
delegation. When the proposal leaves all of those alike for an (agent, action),
and none of the rules it adds or removes matches the call's resource, the call is
decided the same under both: it need not be decided at all. Rules are compared by
content (a rule that only moved keeps deciding the same), so editing one rule of a
long policy touches only the calls that rule can apply to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from charter.domain.compiled import CompiledAgent, Rule, Snapshot


@dataclass(frozen=True, slots=True)
class Touch:
    """What a proposal changes for one (agent, action)."""

    everything: bool  # state, expiry or delegation changed: every call may decide otherwise
    rules: tuple[Rule, ...] = ()  # the rules only one side has

    def applies(self, resource: str) -> bool:
        return self.everything or any(rule.resource_matches(resource) for rule in self.rules)


EVERYTHING = Touch(True)


def _key(rule: Rule, groups: frozenset[str] = frozenset()) -> str:
    return repr((rule.kind.value, groups, rule.capability))


def _difference(
    before: Iterable[tuple[Rule, str]], after: Iterable[tuple[Rule, str]]
) -> list[Rule]:
    old = list(before)
    new = list(after)
    counted_old = Counter(key for _rule, key in old)
    counted_new = Counter(key for _rule, key in new)
    only_old = counted_old - counted_new
    only_new = counted_new - counted_old
    found = [rule for rule, key in old if only_old[key] > 0]
    found += [rule for rule, key in new if only_new[key] > 0]
    return found


def _agent_rules(compiled: CompiledAgent | None, action: str) -> list[tuple[Rule, str]]:
    if compiled is None:
        return []
    denies, allows = compiled.index.get(action)
    return [(rule, _key(rule)) for rule in (*denies, *allows)]


def _alike(a: CompiledAgent | None, b: CompiledAgent | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.state, a.expires_us, a.delegation, a.delegation_groups) == (
        b.state,
        b.expires_us,
        b.delegation,
        b.delegation_groups,
    )


class Scope:
    """Memoised per action (org policy, roles) and per changed agent and action."""

    def __init__(self, current: Snapshot, proposed: Snapshot) -> None:
        self._current = current
        self._proposed = proposed
        self.changed_agents = frozenset(
            name
            for name in current.agents.keys() | proposed.agents.keys()
            if current.agents.get(name) is not proposed.agents.get(name)
        )
        self._shared: dict[str, Touch | None] = {}
        self._own: dict[tuple[str, str], Touch | None] = {}

    def shared(self, action: str) -> Touch | None:
        """What changes for every agent's calls of ``action`` (org policy and roles)."""
        if action in self._shared:
            return self._shared[action]
        current, proposed = self._current, self._proposed
        rules = _difference(
            ((r, _key(r)) for r in current.org.candidates(action)),
            ((r, _key(r)) for r in proposed.org.candidates(action)),
        )
        rules += _difference(
            ((r, _key(r, g)) for g, i in current.role_indexes for r in i.candidates(action)),
            ((r, _key(r, g)) for g, i in proposed.role_indexes for r in i.candidates(action)),
        )
        found = Touch(False, tuple(rules)) if rules else None
        self._shared[action] = found
        return found

    def touch(self, agent: str, action: str) -> Touch | None:
        shared = self.shared(action)
        if agent not in self.changed_agents:
            return shared
        key = (agent, action)
        if key in self._own:
            return self._own[key]
        before = self._current.agents.get(agent)
        after = self._proposed.agents.get(agent)
        found: Touch | None
        if not _alike(before, after):
            found = EVERYTHING
        else:
            rules = _difference(_agent_rules(before, action), _agent_rules(after, action))
            if shared is not None:
                rules = [*shared.rules, *rules]
            found = Touch(False, tuple(rules)) if rules else None
        self._own[key] = found
        return found

    def actions(self, actions: Iterable[str]) -> set[str]:
        """The actions whose calls the proposal may change, for some agent."""
        return {
            action
            for action in actions
            if self.shared(action) is not None
            or any(self.touch(agent, action) is not None for agent in self.changed_agents)
        }

    def resource_patterns(self, actions: Iterable[str]) -> list[str] | None:
        """The resource patterns of every changed rule on ``actions`` (a superset filter for
        the store), or ``None`` when some call of them may change whatever its resource."""
        patterns: set[str] = set()
        for action in actions:
            touches = [self.shared(action)]
            touches += [self.touch(agent, action) for agent in self.changed_agents]
            for touch in touches:
                if touch is None:
                    continue
                if touch.everything:
                    return None
                patterns.update(rule.resource.text for rule in touch.rules)
        return sorted(patterns)
