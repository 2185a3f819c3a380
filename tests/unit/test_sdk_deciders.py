"""The guard's local decider takes its decision point from the caller; the SDK holds none.

``LocalDecider(decide=...)`` uses the function handed in, ``LocalDecider(services)``
keeps working as before, and ``LocalDecider()`` looks ``charter.decide`` up when it
first decides (so nothing of the server is loaded on import, and whatever
``charter.decide`` is at that moment is what decides).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import anyio
import pytest

import charter
import charter.sdk.deciders as deciders
from charter.domain.decision import Decision, Reason, ReasonCode
from charter.sdk.deciders import LocalDecider, RemoteDecider, default_decider
from charter.sdk.guard import AccessDenied, guard

ALLOW = Decision(True, rule="charter/bot/allow/0")
DENY = Decision(False, reasons=(Reason(ReasonCode.NO_MATCHING_CAPABILITY, "no rule"),))


class Recorder:
    """A decide function that answers ``answer`` and remembers every call."""

    def __init__(self, answer: Decision = ALLOW) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, ...]] = []

    def __call__(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
        **extra: Any,
    ) -> Decision:
        self.calls.append((agent, action, resource, dict(context), on_behalf_of, extra))
        return self.answer


class FakeServices:
    """What ``LocalDecider(services)`` reads of a ``Services`` object: ``decisions.decide``."""

    def __init__(self, answer: Decision = ALLOW) -> None:
        self.decisions = type("Decisions", (), {})()
        self.decisions.decide = Recorder(answer)


def test_a_decide_function_handed_in_decides_sync_and_async() -> None:
    decide = Recorder()
    local = LocalDecider(decide=decide)
    assert local.decide("bot", "a.read", "s:x", context={"k": 1}, on_behalf_of=None) is ALLOW
    answer = anyio.run(
        lambda: local.adecide("bot", "a.read", "s:y", context={}, on_behalf_of="p@x.io")
    )
    assert answer is ALLOW
    assert decide.calls == [
        ("bot", "a.read", "s:x", {"k": 1}, None, {}),
        ("bot", "a.read", "s:y", {}, "p@x.io", {}),
    ]


def test_a_guard_with_a_local_decider_denies_before_the_function_runs() -> None:
    decide = Recorder(DENY)
    ran: list[int] = []

    @guard(
        action="s.write", resource="s:items/{n}", agent="bot", decider=LocalDecider(decide=decide)
    )
    def write(n: int) -> None:
        ran.append(n)

    with pytest.raises(AccessDenied) as caught:
        write(7)
    assert ran == []
    assert caught.value.codes == ["no_matching_capability"]
    assert decide.calls == [("bot", "s.write", "s:items/7", {"args": {"n": 7}}, None, {})]


def test_services_as_before_with_the_source_recorded() -> None:
    services = FakeServices()
    assert LocalDecider(services).decide("b", "a", "s:x", context={}, on_behalf_of=None) is ALLOW
    LocalDecider(services, source="notebook").decide("b", "a", "s:x", context={}, on_behalf_of=None)
    assert [call[5] for call in services.decisions.decide.calls] == [
        {"source": "sdk"},
        {"source": "notebook"},
    ]


def test_services_and_a_decide_function_are_one_or_the_other() -> None:
    with pytest.raises(TypeError, match="not both"):
        LocalDecider(FakeServices(), decide=Recorder())


def test_without_one_it_is_charter_decide_looked_up_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = LocalDecider()  # nothing looked up yet: configure() at import time stays cheap
    decide = Recorder()
    monkeypatch.setattr(charter, "decide", decide, raising=False)
    assert local.decide("bot", "a", "s:x", context={}, on_behalf_of=None) is ALLOW
    assert decide.calls == [("bot", "a", "s:x", {}, None, {})]
    assert deciders.in_process_decide() is decide


def test_the_environment_picks_remote_or_local() -> None:
    assert isinstance(default_decider({}), LocalDecider)
    remote = default_decider({"CHARTER_URL": "https://pdp.example/", "CHARTER_PEP_KEY": "k"})
    assert isinstance(remote, RemoteDecider)
    assert remote.url == "https://pdp.example/access/v1/evaluation"


def test_the_guard_module_still_exports_the_deciders() -> None:
    # ``charter.sdk.guard`` as an attribute is the guard function: ask for the module
    guard_module = importlib.import_module("charter.sdk.guard")
    for name in deciders.__all__:
        if name in guard_module.__all__:
            assert getattr(guard_module, name) is getattr(deciders, name)
    assert {"Decider", "LocalDecider", "RemoteDecider", "default_decider"} <= set(
        guard_module.__all__
    )
