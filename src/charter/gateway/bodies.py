"""Reading a request body ahead of the app that will read it again.

The resource server (step-up) and the fast path both look at a call's body
before the SDK does; each must hand the SDK a ``receive`` that replays what was
read, so nothing is lost and nothing is read twice from the socket.
"""

from __future__ import annotations

from starlette.types import Message, Receive


async def peek_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The whole body (``None`` past ``limit`` bytes or when the client went away),
    and a ``receive`` that replays every message read, then defers to ``receive``."""
    messages: list[Message] = []
    size = 0
    complete = False
    while size <= limit:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            complete = True
            break
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    if not complete or size > limit:
        return None, replay
    if len(messages) == 1:
        return messages[0].get("body", b""), replay
    return b"".join(m.get("body", b"") for m in messages), replay
