"""The charter file format: an agent's stated intent, written for humans.

A charter is YAML (or JSON). It is parsed into :class:`CharterSpec`, a strict
Pydantic model: unknown fields are refused, patterns are validated, conditions
are structured data (attribute, operator, value), never code. ``charter schema``
prints the JSON Schema generated from this model; ``docs/charter-format.md``
explains every field with an example.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from charter.domain.durations import format_duration, parse_duration
from charter.domain.enums import ConditionOp, Weekday
from charter.domain.patterns import parse_pattern
from charter.errors import InvalidInput

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
ATTRIBUTE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$"

Duration = Annotated[
    int,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["15m", "1h", "90d"]}),
]

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AttributeRef(_Strict):
    """A condition value that is another attribute of the request: ``{attribute: subject.id}``.

    Lets a rule compare two attributes (a to-do's ``resource.properties.ownerID``
    with the caller's ``subject.properties.email``) instead of a fixed value.
    """

    attribute: str = Field(pattern=ATTRIBUTE_PATTERN, max_length=128)


#: the operators that can compare two attributes (``prefix`` and ``cidr`` need a literal)
REFERENCE_OPS = frozenset(
    {
        ConditionOp.EQ,
        ConditionOp.NE,
        ConditionOp.LT,
        ConditionOp.LE,
        ConditionOp.GT,
        ConditionOp.GE,
    }
)


class Condition(_Strict):
    """A comparison on one attribute of the request context.

    ``attribute`` is a dotted path into the context (``args.amount``,
    ``data.classification``, ``source_ip``). ``value`` is a literal, a list of
    literals, or another attribute (:class:`AttributeRef`). A condition on a
    missing attribute, on either side, fails: the capability does not apply
    (deny), it never errors open.
    """

    attribute: str = Field(pattern=ATTRIBUTE_PATTERN, max_length=128)
    op: ConditionOp
    value: Scalar | list[Scalar] | AttributeRef

    @property
    def reference(self) -> str | None:
        """The other attribute this condition compares with, if its value is one."""
        return self.value.attribute if isinstance(self.value, AttributeRef) else None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Condition:
        if isinstance(self.value, AttributeRef):
            if self.op not in REFERENCE_OPS:
                raise ValueError(
                    f"'{self.op}' needs a literal value; an attribute can be compared with "
                    "eq, ne, lt, le, gt or ge"
                )
            return self
        many = isinstance(self.value, list)
        if self.op in (ConditionOp.IN, ConditionOp.NOT_IN):
            if not many:
                raise ValueError(f"'{self.op}' takes a list of values")
            if len(self.value) > 1000:  # type: ignore[arg-type]
                raise ValueError("a value list holds at most 1000 entries")
        elif many:
            raise ValueError(f"'{self.op}' takes a single value, not a list")
        if self.op in (ConditionOp.LT, ConditionOp.LE, ConditionOp.GT, ConditionOp.GE) and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise ValueError(f"'{self.op}' compares numbers; give a number")
        if self.op == ConditionOp.PREFIX and not isinstance(self.value, str):
            raise ValueError("'prefix' takes a string")
        if self.op == ConditionOp.CIDR:
            if not isinstance(self.value, str):
                raise ValueError("'cidr' takes a network like '10.0.0.0/8'")
            try:
                ipaddress.ip_network(self.value, strict=False)
            except ValueError as exc:
                raise ValueError(f"'{self.value}' is not a network: {exc}") from exc
        return self


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Schedule(_Strict):
    """When in the week a capability applies, in a time zone. ``end`` is exclusive;
    ``end`` before ``start`` spans midnight (``22:00``–``06:00``)."""

    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: list(Weekday), min_length=1)
    start: str = "00:00"
    end: str = "24:00"

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if value != "24:00" and not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day like '08:30'")
        return value

    @property
    def start_minute(self) -> int:
        hours, minutes = self.start.split(":")
        return int(hours) * 60 + int(minutes)

    @property
    def end_minute(self) -> int:
        hours, minutes = self.end.split(":")
        return int(hours) * 60 + int(minutes)


class Validity(_Strict):
    """An absolute window in which a capability applies (``from`` inclusive,
    ``until`` exclusive). Either end may be left open."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: dt.datetime | None = Field(default=None, alias="from")
    until: dt.datetime | None = None

    @field_validator("from_", "until")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Validity:
        if self.from_ and self.until and self.until <= self.from_:
            raise ValueError("'until' must be after 'from'")
        return self


#: the longest an approval for one call may wait, and stay usable once given
MAX_APPROVAL_TTL = 86400
_APPROVER = re.compile(r"^(owner|role [A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")


class Approval(_Strict):
    """``approve: {by: owner, ttl: 15m}``: the rule allows a call only once someone approves it.

    ``by`` is ``owner`` (the agent's accountable owner) or ``role NAME`` (a member of
    that role of the roles file). ``ttl`` bounds both how long a request waits and how
    long a given approval stays usable; an approval is for one call, with those
    exact arguments, once.
    """

    by: str = Field(description="'owner' or 'role NAME'", examples=["owner", "role finance"])
    ttl: Duration = 900

    @field_validator("by")
    @classmethod
    def _approver(cls, value: str) -> str:
        if not _APPROVER.match(value):
            raise ValueError(f"{value!r} is not an approver: write 'owner' or 'role NAME'")
        return value

    @field_validator("ttl")
    @classmethod
    def _short(cls, value: int) -> int:
        if value > MAX_APPROVAL_TTL:
            raise ValueError("an approval lives at most 24h")
        return value

    @property
    def approvers(self) -> tuple[str, ...]:
        """As the governance approval entries: ``owner`` or ``role:NAME``."""
        if self.by == "owner":
            return ("owner",)
        return (f"role:{self.by.partition(' ')[2]}",)


class Capability(_Strict):
    """One thing the agent may (``allow``) or must never (``deny``) do."""

    action: str = Field(description="action pattern, e.g. 'tickets.read' or 'tickets.*'")
    resource: str = Field(
        default="*", description="resource pattern '<system>:<path>', e.g. 'zendesk:tickets/*'"
    )
    when: list[Condition] = Field(default_factory=list, max_length=32)
    schedule: Schedule | None = None
    valid: Validity | None = None
    rate_limit_per_minute: int | None = Field(default=None, gt=0, le=1_000_000)
    description: str | None = Field(default=None, max_length=500)
    approve: Approval | None = Field(
        default=None, description="allow rules only: each call needs someone's approval"
    )

    @field_validator("action", "resource")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            parse_pattern(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc
        return value


class Delegation(_Strict):
    """Whether the agent may act on behalf of people, and of which groups."""

    allowed: bool = False
    groups: list[str] = Field(default_factory=list, max_length=256)
    max_chain: int = Field(default=1, ge=1, le=5, description="longest act chain accepted")

    @model_validator(mode="after")
    def _groups_need_allowed(self) -> Delegation:
        if self.groups and not self.allowed:
            raise ValueError("groups are given but 'allowed' is false")
        return self


class CredentialLimits(_Strict):
    max_token_lifetime: Duration = 900
    require_proof_of_possession: bool = False
    rotate_every: Duration = 90 * 86400

    @field_validator("max_token_lifetime")
    @classmethod
    def _cap(cls, value: int) -> int:
        if value > 86400:
            raise ValueError("tokens live at most 24h; short-lived is the point")
        return value


class Review(_Strict):
    every: Duration = 90 * 86400


class CharterSpec(_Strict):
    """The whole charter file."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        json_schema_extra={"title": "Charter", "$id": "https://charter.dev/schema/charter.json"},
    )

    name: str = Field(pattern=NAME_PATTERN, description="a slug: lowercase letters, digits, '-'")
    owner: EmailStr = Field(description="the accountable person's e-mail")
    purpose: str = Field(min_length=10, max_length=2000, description="plain words")
    environment: str = Field(default="production", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    allow: list[Capability] = Field(default_factory=list, max_length=1000)
    deny: list[Capability] = Field(default_factory=list, max_length=1000)
    delegation: Delegation = Field(default_factory=Delegation)
    credentials: CredentialLimits = Field(default_factory=CredentialLimits)
    review: Review = Field(default_factory=Review)
    expires: dt.date | None = Field(
        default=None, description="ISO date; after it, nothing is allowed"
    )
    identities: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="external identities this agent uses (role ARNs, client ids, service accounts)",
    )
    parent: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="the agent this one is a sub-agent of: its charter must be contained in the "
        "parent's",
    )

    @model_validator(mode="after")
    def _approve_only_on_allow(self) -> CharterSpec:
        for index, rule in enumerate(self.deny):
            if rule.approve is not None:
                raise ValueError(
                    f"deny[{index}] says 'approve': only an allow rule can ask for approval"
                )
        if self.parent is not None and self.parent == self.name:
            raise ValueError("an agent cannot be its own parent")
        return self

    @field_validator("owner")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$", key):
                raise ValueError(f"label key {key!r} is not a simple name")
        return value

    def summary(self) -> dict[str, Any]:
        """A short, stable digest for audit events."""
        return {
            "name": self.name,
            "owner": self.owner,
            "allow": len(self.allow),
            "deny": len(self.deny),
            "delegation": self.delegation.allowed,
            "expires": self.expires.isoformat() if self.expires else None,
        }

    def document(self) -> dict[str, Any]:
        """The canonical JSON-ready form (what is stored and diffed)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def charter_json_schema() -> dict[str, Any]:
    return CharterSpec.model_json_schema(by_alias=True)
