"""Roles: what people may do, so an agent acting for a person gets no more than that person.

A roles file maps directory groups to capabilities in the charter pattern
language. A person's access is the union of the roles of every group they
belong to. It is used only for delegation: an agent acting on behalf of a
person is allowed a request only if its own charter *and* the person's roles
allow it (DESIGN, job 4: the intersection, never the person's full access).

.. code-block:: yaml

    version: 1
    roles:
      - name: support-staff
        description: Front-line support
        groups: [support, support-leads]
        allow:
          - action: "tickets.*"
            resource: "zendesk:tickets/*"

Roles are allow-only: organisation-wide prohibitions belong in the org policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from charter.domain.charter import NAME_PATTERN, Capability
from charter.domain.charter_parsing import load_document, validation_error
from charter.errors import Conflict

MAX_ROLES = 1000


class Role(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(pattern=NAME_PATTERN, description="a slug naming the role")
    description: str | None = Field(default=None, max_length=500)
    groups: list[str] = Field(min_length=1, max_length=256)
    allow: list[Capability] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _groups_named(self) -> Role:
        for group in self.groups:
            if not group or len(group) > 256:
                raise ValueError("a group name is 1 to 256 characters")
        if any(rule.approve is not None for rule in self.allow):
            raise ValueError("'approve' belongs in an agent's charter, not in a role")
        return self

    def rule_id(self, index: int) -> str:
        return f"role/{self.name}/allow/{index}"


class RolesFile(BaseModel):
    """The whole roles file (kept under version control, applied with ``charter roles apply``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    roles: list[Role] = Field(default_factory=list, max_length=MAX_ROLES)

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def roles_for(self, groups: Iterable[str]) -> list[Role]:
        """The roles a member of ``groups`` holds, in file order."""
        wanted = set(groups)
        return [role for role in self.roles if wanted.intersection(role.groups)]

    def capabilities_for(self, groups: Iterable[str]) -> list[tuple[str, Capability]]:
        """(rule id, capability) pairs a member of ``groups`` may use, in file order."""
        return [
            (role.rule_id(index), capability)
            for role in self.roles_for(groups)
            for index, capability in enumerate(role.allow)
        ]


EMPTY_ROLES = RolesFile()


def parse_roles(document: dict[str, Any]) -> RolesFile:
    """Validate a roles document; two roles with one name are a :class:`Conflict`."""
    try:
        roles = RolesFile.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc, what="roles file") from exc
    seen: dict[str, int] = {}
    for index, role in enumerate(roles.roles):
        if role.name in seen:
            raise Conflict(
                f"role {role.name!r} is defined twice (roles[{seen[role.name]}] and "
                f"roles[{index}]); merge them or rename one",
                field=f"roles[{index}].name",
            )
        seen[role.name] = index
    return roles


def parse_roles_text(text: str | bytes, *, source: str = "roles file") -> RolesFile:
    return parse_roles(load_document(text, source=source))
