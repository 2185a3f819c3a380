"""Finding rules, one module per family. Importing this package registers them all."""

from charter.domain.governance.rules import (
    behaviour,
    discovery,
    lifecycle,
    ownership,
    privilege,
    secrets,
    staleness,
)

__all__ = ["behaviour", "discovery", "lifecycle", "ownership", "privilege", "secrets", "staleness"]
