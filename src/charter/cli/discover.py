"""``charter discover …``: find agents, identities and credentials, source by source."""

from __future__ import annotations

import typer

app = typer.Typer(help="Discover agents, non-human identities and credentials.")

# Sources register their commands here, one line each: module.register(app)
# -- registrations --
# -- end registrations --
