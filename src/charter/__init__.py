"""Charter: the identity and access control plane for AI agents."""

from typing import TYPE_CHECKING

from charter.version import __version__ as __version__

if TYPE_CHECKING:  # in-process decisions: charter.decide(agent, action, resource, ...)
    from charter.services.in_process import decide as decide


def __getattr__(name: str) -> object:
    """``charter.decide`` loads the decision point on first use, not on ``import charter``."""
    if name == "decide":
        from charter.services.in_process import decide

        return decide
    raise AttributeError(f"module 'charter' has no attribute {name!r}")
