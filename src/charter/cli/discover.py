"""``charter discover …``: find agents, identities and credentials, source by source."""

from __future__ import annotations

from charter.cli import discover_fs, discover_status
from charter.cli.conventions import CharterTyper

app = CharterTyper(help="Discover agents, non-human identities and credentials.")

# Sources register their commands here, one line each: module.register(app)
# -- registrations --
discover_fs.register(app)
discover_status.register(app)
# -- end registrations --
