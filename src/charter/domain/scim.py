"""A SCIM 2.0 ListResponse of Users (RFC 7644 §3.4.2, RFC 7643 §4.1), validated by its schema.

Directory exports arrive as SCIM JSON; each User is read through these models,
so a malformed attribute (``"emails": "notalist"``) is a clear error naming
``Resources[i].emails`` instead of an ``AttributeError`` deep in the mapping.
Attributes Charter does not use are still known to SCIM (``title``, ``meta``,
…) and pass; an attribute that is neither a core User attribute nor under an
extension schema URN (``isAdmin``) is *unknown*, and the import decides
whether to refuse it (see ``services/people.py``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCIM_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

#: RFC 7643 §4.1 core User attributes, plus the common ones every resource has (§3.1).
USER_ATTRIBUTES = frozenset(
    {
        "schemas",
        "id",
        "externalId",
        "meta",
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    }
)

MAX_RESOURCES = 1_000_000


class _Scim(BaseModel):
    """SCIM objects carry more sub-attributes than Charter reads: keep them, check types."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ScimEmail(_Scim):
    value: str | None = None
    primary: bool = False


class ScimName(_Scim):
    formatted: str | None = None
    givenName: str | None = None
    familyName: str | None = None


class ScimGroupRef(_Scim):
    value: str | None = None
    display: str | None = None


class ScimManager(_Scim):
    value: str | None = None


class ScimEnterpriseUser(_Scim):
    manager: ScimManager | None = None


class ScimUser(_Scim):
    id: str | int | None = None
    externalId: str | None = None
    userName: str | None = None
    displayName: str | None = None
    name: ScimName | None = None
    emails: list[ScimEmail] = Field(default_factory=list, max_length=1000)
    active: bool = True
    groups: list[ScimGroupRef] = Field(default_factory=list, max_length=10_000)
    enterprise: ScimEnterpriseUser | None = Field(default=None, alias=SCIM_ENTERPRISE)

    def email(self) -> str | None:
        primary = next((e.value for e in self.emails if e.primary and e.value), None)
        first = next((e.value for e in self.emails if e.value), None)
        return primary or first or self.userName

    def unknown_attributes(self) -> list[str]:
        """Attributes that are neither core SCIM User attributes nor under an extension URN."""
        extra = self.model_extra or {}
        return [key for key in extra if key not in USER_ATTRIBUTES and not key.startswith("urn:")]

    def person(self, emails_by_id: dict[str, str]) -> dict[str, Any]:
        """The Charter person fields (validated next as a ``PersonRecord``)."""
        email = self.email()
        name = self.displayName or (self.name.formatted if self.name else None)
        if not name:
            given = (self.name.givenName if self.name else None) or ""
            family = (self.name.familyName if self.name else None) or ""
            name = f"{given} {family}".strip() or email
        manager = self.enterprise.manager if self.enterprise else None
        manager_email = None
        if manager is not None and manager.value:  # SCIM names the manager by id
            fallback = manager.value if "@" in manager.value else None
            manager_email = emails_by_id.get(manager.value, fallback)
        groups = [g.display or g.value for g in self.groups]
        aliases = [str(self.externalId) if self.externalId else None]
        aliases += [str(self.id) if self.id not in (None, "") else None]
        aliases += [self.userName if self.userName and self.userName != email else None]
        return {
            "external_ids": [a for a in dict.fromkeys(aliases) if a],
            "email": email,
            "name": name,
            "status": "active" if self.active else "departed",
            "manager": manager_email,
            "groups": [g for g in groups if g],
        }


class ScimListResponse(_Scim):
    """RFC 7644 §3.4.2: the envelope; ``Resources`` are Users here."""

    Resources: list[ScimUser] | None = Field(default=None, max_length=MAX_RESOURCES)
    totalResults: int | None = None
