"""Least privilege from observed use: what can go, what stays, what narrows (pure).

repokid's shape: compute what can go from activity, show it, apply only on an
explicit decision, keep the old version. Two inputs are handled:

* a **charter**: each ``allow`` capability is kept if some activity in the
  window was allowed by (or observed under) it, removed if none was, and a
  capability whose *action* is a wildcard is narrowed to the exact actions
  observed when there are at most ``narrow_max`` of them. Resources, conditions,
  schedules and limits of kept capabilities are kept as written. ``deny`` rules
  are never touched: removing access never needs removing a deny.
* **grants** in an external system: each permission is kept when an observed
  action matches it, otherwise it is unused; the suggested set is the observed
  actions (permissions are patterns in the same ``*`` language).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from charter.domain.charter import Capability, CharterSpec
from charter.domain.governance.facts import GrantFacts, Usage
from charter.domain.patterns import Pattern, parse_pattern
from charter.errors import InvalidInput


def capability_label(capability: Capability) -> str:
    return f"{capability.action} on {capability.resource}"


def _escape(literal: str) -> str:
    """A pattern matching exactly ``literal`` (stars and backslashes escaped)."""
    return literal.replace("\\", "\\\\").replace("*", "\\*")


def safe_pattern(text: str) -> Pattern | None:
    try:
        return parse_pattern(text)
    except InvalidInput:
        return None


@dataclass(frozen=True, slots=True)
class CapabilityUse:
    """One allow capability of a charter and the activity it covered in the window."""

    capability: Capability
    actions: tuple[str, ...]
    count: int

    @property
    def used(self) -> bool:
        return self.count > 0


@dataclass(frozen=True, slots=True)
class LeastPrivilege:
    """The suggested allow list, and how it differs from the current one."""

    uses: tuple[CapabilityUse, ...]
    allow: tuple[Capability, ...]
    removed: tuple[Capability, ...]
    narrowed: tuple[tuple[Capability, tuple[Capability, ...]], ...]

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.narrowed)

    def apply(self, spec: CharterSpec) -> CharterSpec:
        """The charter with the least-privilege allow list (everything else as it was)."""
        document = spec.document()
        document["allow"] = [
            c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in self.allow
        ]
        return CharterSpec.model_validate(document)

    def summary(self) -> dict[str, object]:
        return {
            "keep": [capability_label(c) for c in self.allow],
            "remove": [capability_label(c) for c in self.removed],
            "narrow": {
                capability_label(old): [capability_label(c) for c in new]
                for old, new in self.narrowed
            },
        }


def charter_least_privilege(
    spec: CharterSpec, usage: Iterable[Usage], *, narrow_max: int = 10
) -> LeastPrivilege:
    """The least-privilege allow list for ``spec`` given the activity in ``usage``."""
    granted = [u for u in usage if not u.denied]
    uses: list[CapabilityUse] = []
    allow: list[Capability] = []
    removed: list[Capability] = []
    narrowed: list[tuple[Capability, tuple[Capability, ...]]] = []
    for capability in spec.allow:
        # the capability's patterns, parsed once for all its usage
        action, resource = safe_pattern(capability.action), safe_pattern(capability.resource)
        covered = (
            [u for u in granted if action.matches(u.action) and resource.matches(u.resource)]
            if action is not None and resource is not None
            else []
        )
        actions = tuple(sorted({u.action for u in covered}))
        uses.append(CapabilityUse(capability, actions, sum(u.count for u in covered)))
        if not covered:
            removed.append(capability)
            continue
        if action is not None and not action.is_exact and len(actions) <= narrow_max:
            exact = tuple(
                capability.model_copy(update={"action": _escape(action)}) for action in actions
            )
            narrowed.append((capability, exact))
            allow.extend(exact)
        else:
            allow.append(capability)
    return LeastPrivilege(tuple(uses), tuple(allow), tuple(removed), tuple(narrowed))


def is_broad(capability: Capability) -> bool:
    """Any action on any resource of any system: a charter that says nothing."""
    return capability.action == "*" and (capability.resource in ("*", "*:*"))


@dataclass(frozen=True, slots=True)
class GrantUse:
    """Which permissions of an identity's grants were used, and the suggested set."""

    unused: tuple[str, ...]
    used: tuple[str, ...]
    suggested: tuple[str, ...]


def grants_least_privilege(grants: Sequence[GrantFacts], usage: Iterable[Usage]) -> GrantUse:
    actions = sorted({u.action for u in usage if not u.denied})
    unused: list[str] = []
    used: list[str] = []
    for permission in sorted({p for grant in grants for p in grant.permissions}):
        pattern = safe_pattern(permission)
        hit = (
            any(pattern.matches(a) for a in actions)
            if pattern is not None
            else permission in actions
        )
        (used if hit else unused).append(permission)
    return GrantUse(tuple(unused), tuple(used), tuple(actions))
