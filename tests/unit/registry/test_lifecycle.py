from __future__ import annotations

import itertools

import pytest

from charter.domain.enums import AgentState
from charter.domain.lifecycle import TRANSITIONS, Transition, allowed_transitions, next_state
from charter.errors import IllegalTransition

S = AgentState
LEGAL = {
    (S.DISCOVERED, Transition.PROPOSE): S.PROPOSED,
    (S.DISCOVERED, Transition.ACTIVATE): S.ACTIVE,
    (S.PROPOSED, Transition.ACTIVATE): S.ACTIVE,
    (S.ACTIVE, Transition.SUSPEND): S.SUSPENDED,
    (S.SUSPENDED, Transition.RESUME): S.ACTIVE,
    (S.DISCOVERED, Transition.DECOMMISSION): S.DECOMMISSIONED,
    (S.PROPOSED, Transition.DECOMMISSION): S.DECOMMISSIONED,
    (S.ACTIVE, Transition.DECOMMISSION): S.DECOMMISSIONED,
    (S.SUSPENDED, Transition.DECOMMISSION): S.DECOMMISSIONED,
}


@pytest.mark.parametrize(("state", "transition"), list(itertools.product(S, Transition)))
def test_every_state_and_transition(state: AgentState, transition: Transition) -> None:
    if (state, transition) in LEGAL:
        assert next_state(state, transition) == LEGAL[(state, transition)]
        assert transition in allowed_transitions(state)
    else:
        with pytest.raises(IllegalTransition) as caught:
            next_state(state, transition)
        assert caught.value.field == "state"
        assert transition not in allowed_transitions(state)


def test_decommissioned_is_terminal() -> None:
    assert allowed_transitions(S.DECOMMISSIONED) == []
    with pytest.raises(IllegalTransition, match="final"):
        next_state(S.DECOMMISSIONED, Transition.RESUME)


def test_table_covers_every_transition() -> None:
    assert set(TRANSITIONS) == set(Transition)
