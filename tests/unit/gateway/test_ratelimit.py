"""At most n calls in any minute, a burst of n allowed; keys do not share."""

from __future__ import annotations

from charter.gateway.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_the_limit_then_refusals_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert all(limiter.check("k", 5).allowed for _ in range(5))
    refused = limiter.check("k", 5)
    assert not refused.allowed
    assert refused.retry_after == 60.0  # the burst's first call leaves the window then
    clock.now += 30.0
    assert not limiter.check("k", 5).allowed
    clock.now += 30.0
    assert all(limiter.check("k", 5).allowed for _ in range(5))
    assert not limiter.check("k", 5).allowed


def test_never_more_than_the_limit_in_any_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    admitted: list[float] = []
    for step in range(6000):  # ten minutes of attempts every 0.1 s
        clock.now = 1000.0 + step * 0.1
        if limiter.check("k", 30).allowed:
            admitted.append(clock.now)
    for index, moment in enumerate(admitted):
        in_window = [m for m in admitted[index:] if m < moment + 60]
        assert len(in_window) <= 30
    assert len(admitted) >= 30 * 10  # and the limit is actually reached


def test_keys_are_independent_and_zero_refuses() -> None:
    limiter = RateLimiter(Clock())
    assert limiter.check(("tool", "a", "x"), 1).allowed
    assert not limiter.check(("tool", "a", "x"), 1).allowed
    assert limiter.check(("tool", "b", "x"), 1).allowed
    assert not limiter.check("z", 0).allowed


def test_memory_stays_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, max_keys=100)
    for key in range(1000):
        limiter.check(key, 10)
        clock.now += 10
    assert len(limiter) <= 100


def test_very_high_limits_hold_the_rate_on_average() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    admitted = 0
    for step in range(120_000):  # two minutes, a call every millisecond
        clock.now = 1000.0 + step * 0.001
        admitted += limiter.check("k", 60_000).allowed
    assert 60_000 * 2 * 0.95 <= admitted <= 60_000 * 3


def test_over_names_the_first_limit_exceeded_rule_before_agent() -> None:
    limiter = RateLimiter(Clock())
    assert limiter.over("bot", "send_email", None, None) is None
    assert all(limiter.over("bot", "send_email", 2, 3) is None for _ in range(2))
    assert limiter.over("bot", "send_email", 2, 3) == (2, 60.0, "calls of send_email")
    assert limiter.over("bot", "read_ticket", None, 3) is None  # the agent's third call
    assert limiter.over("bot", "read_ticket", None, 3) == (3, 60.0, "calls")
    assert limiter.over("other", "read_ticket", None, 3) is None
