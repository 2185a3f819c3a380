"""The reason a cut call's cancellation carries to the upstream, and nothing else touched."""

from __future__ import annotations

import mcp_types as types
from mcp.shared.message import SessionMessage

from charter.gateway.cancellation import abandon_reason, with_reason


def _cancel(request_id: int = 6, reason: str = "caller cancelled") -> SessionMessage:
    params = {"requestId": request_id, "reason": reason}
    return SessionMessage(
        types.JSONRPCNotification(jsonrpc="2.0", method="notifications/cancelled", params=params)
    )


def _params(message: SessionMessage) -> dict[str, object]:
    assert isinstance(message.message, types.JSONRPCNotification)
    return dict(message.message.params or {})


def test_a_cut_calls_cancellation_names_the_cut() -> None:
    with abandon_reason(lambda: "Charter cut off agent bot: incident 7"):
        sent = with_reason(_cancel())
    assert _params(sent) == {"requestId": 6, "reason": "Charter cut off agent bot: incident 7"}
    with abandon_reason(lambda: "x" * 5000):
        assert len(str(_params(with_reason(_cancel()))["reason"])) == 500


def test_everything_else_passes_untouched() -> None:
    cancel = _cancel()
    assert with_reason(cancel) is cancel  # no forwarded call in this context
    with abandon_reason(lambda: None):  # a call not cut (a timeout, a client gone)
        assert with_reason(cancel) is cancel
    request = SessionMessage(
        types.JSONRPCRequest(jsonrpc="2.0", id=7, method="tools/call", params={"name": "t"})
    )
    progress = SessionMessage(
        types.JSONRPCNotification(jsonrpc="2.0", method="notifications/progress", params={})
    )
    with abandon_reason(lambda: "cut"):
        assert with_reason(request) is request
        assert with_reason(progress) is progress
