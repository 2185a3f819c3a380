"""People from the directory: owners, sponsors, delegators."""

from __future__ import annotations

from dataclasses import dataclass, field

from charter.domain.enums import PersonStatus


@dataclass(frozen=True, slots=True)
class Person:
    email: str
    name: str
    status: PersonStatus = PersonStatus.ACTIVE
    manager: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)
    #: the person's other names in identity providers (an IdP's opaque subject id, a SCIM
    #: ``externalId``), so a policy enforcement point may name them by any of these
    external_ids: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_active(self) -> bool:
        return self.status == PersonStatus.ACTIVE
