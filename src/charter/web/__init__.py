"""The console: server-rendered pages over the same services as the CLI and the API."""

from charter.web.routes import router

__all__ = ["router"]
