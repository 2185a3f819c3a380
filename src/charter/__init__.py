"""Charter: the identity and access control plane for AI agents."""

__version__ = "0.1.0"
