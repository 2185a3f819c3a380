"""The agent lifecycle: ``discovered → proposed → active ⇄ suspended → decommissioned``.

Pure rules: which transitions exist and what each is called. Only ``active``
agents get credentials or allow decisions; ``decommissioned`` is terminal.
"""

from __future__ import annotations

from enum import StrEnum

from charter.domain.enums import AgentState
from charter.errors import IllegalTransition


class Transition(StrEnum):
    PROPOSE = "propose"
    ACTIVATE = "activate"
    SUSPEND = "suspend"
    RESUME = "resume"
    DECOMMISSION = "decommission"


_S = AgentState
#: transition → (states it may start from, state it ends in)
TRANSITIONS: dict[Transition, tuple[frozenset[AgentState], AgentState]] = {
    Transition.PROPOSE: (frozenset({_S.DISCOVERED}), _S.PROPOSED),
    Transition.ACTIVATE: (frozenset({_S.PROPOSED, _S.DISCOVERED}), _S.ACTIVE),
    Transition.SUSPEND: (frozenset({_S.ACTIVE}), _S.SUSPENDED),
    Transition.RESUME: (frozenset({_S.SUSPENDED}), _S.ACTIVE),
    Transition.DECOMMISSION: (
        frozenset({_S.DISCOVERED, _S.PROPOSED, _S.ACTIVE, _S.SUSPENDED}),
        _S.DECOMMISSIONED,
    ),
}


def next_state(current: AgentState, transition: Transition) -> AgentState:
    """The state after ``transition``, or :class:`IllegalTransition` saying why not."""
    sources, target = TRANSITIONS[transition]
    if current not in sources:
        if current == AgentState.DECOMMISSIONED:
            raise IllegalTransition(
                f"cannot {transition}: the agent is decommissioned, which is final",
                field="state",
            )
        allowed = ", ".join(sorted(s.value for s in sources))
        raise IllegalTransition(
            f"cannot {transition} an agent that is {current}; {transition} applies to: {allowed}",
            field="state",
        )
    return target


def allowed_transitions(current: AgentState) -> list[Transition]:
    return [t for t, (sources, _) in TRANSITIONS.items() if current in sources]
