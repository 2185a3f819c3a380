"""The kill switch: cut agents that may no longer act, within ``watch_interval``.

The gateway watches the agents it is serving; one that was suspended (or
decommissioned) is cut: its in-flight calls are cancelled (they answer "cut
off"), the cut is audited, and its MCP sessions are terminated.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from charter.gateway.server import Gateway

logger = logging.getLogger("charter.gateway")

#: How long cut-off calls get to send their error before their sessions are terminated.
CUT_GRACE = 1.0


async def watch(gateway: Gateway) -> None:
    """The kill switch's eyes: cut agents that may no longer act, within ``watch_interval``."""
    while True:
        await anyio.sleep(gateway.settings.watch_interval)
        live = gateway.sessions.agents()
        if not live:
            continue
        try:
            gone = await gateway.authority.inactive(live)
        except Exception:
            logger.exception("checking agent states failed; will retry")
            continue
        for agent in gone:
            await gateway.cut(
                agent, "the agent is no longer active in Charter (suspended or decommissioned)"
            )


async def cut(gateway: Gateway, agent: str, reason: str) -> None:
    """Cut ``agent`` off now: cancel its in-flight calls, terminate its sessions, audit it."""
    report = gateway.sessions.cut(agent, reason)
    if report.calls or report.sessions:
        logger.warning(
            "cut off agent %s: %d in-flight calls, %d sessions (%s)",
            agent,
            report.calls,
            len(report.sessions),
            reason,
        )
        # Audit first: whoever sees the cut (the agent, an operator) can already find it.
        try:
            await gateway.authority.note_cut(agent, len(report.sessions), report.calls, reason)
        except Exception:
            logger.exception("recording the cut of %s failed", agent)
    if report.calls:
        # Let the cancelled calls answer "cut off" on their own streams before the
        # sessions go, so the agent learns why instead of seeing a dropped session.
        with anyio.move_on_after(CUT_GRACE):
            while gateway.sessions.in_flight(agent):
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)
    for session_id in report.sessions:
        await _terminate(gateway, session_id)


async def _terminate(gateway: Gateway, session_id: str) -> None:
    manager = gateway._manager
    # The SDK keeps live transports by session id; terminating one closes its
    # streams and makes the id answer 404, exactly as a client DELETE would.
    transports = getattr(manager, "_server_instances", None) if manager else None
    transport = transports.get(session_id) if isinstance(transports, dict) else None
    if transport is not None:
        with anyio.CancelScope(shield=True):
            await transport.terminate()
