"""What the policy names exactly: the known resources and actions a search also returns.

Every exact resource (``zendesk:tickets/4711``) and exact action any compiled rule
names — an agent's allow and deny rules, a role's, the org policy's. Search
offers them as concrete results wherever the subject's patterns allow them.

At 10,000 agents a full pass over 200,000 rules takes a second, and a snapshot is
replaced whenever one charter changes, so :class:`VocabularyIndex` keeps each
agent's contribution and, for a new snapshot, re-reads only the agents whose
compiled form is a different object (the decision service recompiles only what
changed, so the others are the very same objects).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from charter.domain.compiled import EXACT, CompiledAgent, Rule, Snapshot, gc_paused

Names = tuple[frozenset[tuple[str, str]], frozenset[str]]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Every resource (by system, sorted paths) and action the policy names exactly."""

    resources: Mapping[str, tuple[str, ...]]
    actions: tuple[str, ...]


def _names(rules: Iterable[Rule]) -> Names:
    resources: set[tuple[str, str]] = set()
    actions: set[str] = set()
    for rule in rules:
        if rule.res_mode == EXACT:
            system, colon, path = rule.res_text.partition(":")
            if colon:
                resources.add((system, path))
        if rule.action.is_exact:
            actions.add(rule.action.pieces[0])
    return frozenset(resources), frozenset(actions)


def _agent_names(compiled: CompiledAgent) -> Names:
    return _names((*compiled.allows.rules, *compiled.denies.rules))


def _shared_names(snapshot: Snapshot) -> Names:
    """The org policy's and the roles' names (a few hundred rules: read every time)."""
    rules: list[Rule] = list(snapshot.org.rules)
    for _groups, index in snapshot.role_indexes:
        rules.extend(index.rules)
    return _names(rules)


def _build(resources: Iterable[tuple[str, str]], actions: Iterable[str]) -> Vocabulary:
    by_system: dict[str, list[str]] = {}
    for system, path in resources:
        by_system.setdefault(system, []).append(path)
    return Vocabulary(
        {system: tuple(sorted(paths)) for system, paths in by_system.items()},
        tuple(sorted(set(actions))),
    )


def vocabulary(snapshot: Snapshot) -> Vocabulary:
    """The vocabulary of a snapshot, from scratch."""
    resources: set[tuple[str, str]] = set()
    actions: set[str] = set()
    with gc_paused():
        for compiled in snapshot.agents.values():
            names = _agent_names(compiled)
            resources |= names[0]
            actions |= names[1]
        shared = _shared_names(snapshot)
    return _build(resources | shared[0], actions | shared[1])


class VocabularyIndex:
    """The vocabulary of successive snapshots, re-reading only the agents that changed."""

    def __init__(self) -> None:
        self._agents: dict[str, tuple[CompiledAgent, Names]] = {}
        self._resources: Counter[tuple[str, str]] = Counter()
        self._actions: Counter[str] = Counter()
        self._snapshot: Snapshot | None = None
        self._vocabulary = Vocabulary({}, ())

    def _drop(self, names: Names) -> None:
        self._resources.subtract(names[0])
        self._actions.subtract(names[1])

    def _add(self, names: Names) -> None:
        self._resources.update(names[0])
        self._actions.update(names[1])

    def of(self, snapshot: Snapshot) -> Vocabulary:
        if snapshot is self._snapshot:
            return self._vocabulary
        with gc_paused():  # thousands of small long-lived sets: no collector passes meanwhile
            return self._follow(snapshot)

    def _follow(self, snapshot: Snapshot) -> Vocabulary:
        agents = snapshot.agents
        for name in [n for n in self._agents if n not in agents]:
            self._drop(self._agents.pop(name)[1])
        for name, compiled in agents.items():
            held = self._agents.get(name)
            if held is not None and held[0] is compiled:
                continue
            if held is not None:
                self._drop(held[1])
            names = _agent_names(compiled)
            self._add(names)
            self._agents[name] = (compiled, names)
        shared = _shared_names(snapshot)
        resources = {key for key, count in self._resources.items() if count > 0} | shared[0]
        actions = {key for key, count in self._actions.items() if count > 0} | shared[1]
        self._vocabulary = _build(resources, actions)
        self._snapshot = snapshot
        return self._vocabulary
