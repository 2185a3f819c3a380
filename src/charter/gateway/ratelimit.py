"""Per-agent and per-tool call limits: a sliding one-minute window.

Charters set ``rate_limit_per_minute`` on an allow rule; the gateway applies it
to each (agent, tool) pair the rule allowed, and an optional gateway-wide
ceiling per agent (``gateway.agent_calls_per_minute``). "*n* per minute" means
it literally: at most *n* calls in *any* 60-second window, a burst of *n* at
once allowed. That needs the times of the last *n* admitted calls per key (a
sliding-window log), which is exact and cheap for the limits charters hold;
above :data:`EXACT_UP_TO` calls per minute a key switches to GCRA (ITU-T
I.371), which keeps one timestamp and holds the rate on average.

Limits are per gateway process (documented in docs/gateway.md).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

WINDOW = 60.0
EXACT_UP_TO = 10_000
MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a call may go ahead, and when to try again if not."""

    allowed: bool
    retry_after: float = 0.0


class RateLimiter:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self._clock = clock
        self._logs: dict[Hashable, deque[float]] = {}
        self._tat: dict[Hashable, float] = {}
        self._max_keys = max_keys

    def check(self, key: Hashable, per_minute: int) -> Verdict:
        """Count one call against ``key``'s limit of ``per_minute`` calls."""
        if per_minute <= 0:
            return Verdict(False, WINDOW)
        now = self._clock()
        if per_minute > EXACT_UP_TO:
            return self._gcra(key, per_minute, now)
        log = self._logs.get(key)
        if log is None:
            if len(self._logs) >= self._max_keys:
                self._evict(now)
            log = self._logs[key] = deque()
        cutoff = now - WINDOW
        while log and log[0] <= cutoff:
            log.popleft()
        if len(log) >= per_minute:
            return Verdict(False, log[0] + WINDOW - now)
        log.append(now)
        return Verdict(True)

    def _gcra(self, key: Hashable, per_minute: int, now: float) -> Verdict:
        interval = WINDOW / per_minute
        tolerance = WINDOW - interval
        tat = max(self._tat.get(key, now), now)
        if tat - now > tolerance + 1e-9:
            return Verdict(False, tat - now - tolerance)
        self._tat[key] = tat + interval
        return Verdict(True)

    def _evict(self, now: float) -> None:
        """Forget keys with no call in the last minute (they have their whole allowance)."""
        cutoff = now - WINDOW
        for key in [key for key, log in self._logs.items() if not log or log[-1] <= cutoff]:
            del self._logs[key]
        for key in [key for key, tat in self._tat.items() if tat <= now]:
            del self._tat[key]

    def __len__(self) -> int:
        return len(self._logs) + len(self._tat)

    def over(
        self, agent: str, action: str, per_rule: int | None, overall: int | None
    ) -> tuple[int, float, str] | None:
        """Admit one call of ``agent``'s under its rule's limit and the agent-wide one:
        ``None``, or (the limit, seconds to wait, what it counts) for the first one exceeded."""
        if per_rule is not None:
            verdict = self.check(("tool", agent, action), per_rule)
            if not verdict.allowed:
                return per_rule, verdict.retry_after, f"calls of {action}"
        if overall is not None:
            verdict = self.check(("agent", agent), overall)
            if not verdict.allowed:
                return overall, verdict.retry_after, "calls"
        return None
