"""``charter discover …``: find agents, identities and credentials, source by source."""

from __future__ import annotations

import typer

from charter.cli import discover_fs

app = typer.Typer(help="Discover agents, non-human identities and credentials.")

# Sources register their commands here, one line each: module.register(app)
# -- registrations --
discover_fs.register(app)
# -- end registrations --
