"""Organisation policy: deny rules every agent is subject to, whatever its charter says.

Kept in a file under version control and applied with ``charter policy apply``:

.. code-block:: yaml

    version: 1
    deny:
      - id: no-iam-changes
        description: No agent may change IAM policies
        action: "iam.*"
        resource: "aws:*"
      - id: eu-data-stays-in-eu
        description: Nothing leaves the EU region
        action: "*.export"
        when:
          - {attribute: destination.region, op: not_in, value: [eu-west-1, eu-central-1]}

``subjects`` maps AuthZEN subject types to what they name (see
:mod:`charter.domain.subjects`), e.g. ``subjects: {employee: person}``.

Rules use the charter pattern language and conditions. A deny rule whose
condition cannot be evaluated (the attribute is missing) *applies*: a deny you
cannot rule out is a deny. The file holds deny rules only; a policy that
contradicts itself is refused before it is stored (see :func:`parse_org_policy`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from charter.domain.charter import Capability, Condition, Schedule, Validity
from charter.domain.charter_parsing import load_document, validation_error
from charter.domain.enums import ConditionOp
from charter.domain.patterns import parse_pattern
from charter.errors import Conflict, InvalidInput

RULE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$"
MAX_ORG_RULES = 1000


class OrgRule(BaseModel):
    """One organisation-wide deny rule."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(pattern=RULE_ID_PATTERN, description="a stable slug; reasons cite it")
    description: str = Field(min_length=3, max_length=500, description="why, in plain words")
    action: str = "*"
    resource: str = "*"
    when: list[Condition] = Field(default_factory=list, max_length=32)
    schedule: Schedule | None = None
    valid: Validity | None = None

    @field_validator("action", "resource")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            parse_pattern(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc
        return value

    @property
    def rule_id(self) -> str:
        return f"org/{self.id}"

    def as_capability(self) -> Capability:
        """The rule in the charter's shape, so one compiler serves both."""
        return Capability(
            action=self.action,
            resource=self.resource,
            when=self.when,
            schedule=self.schedule,
            valid=self.valid,
            description=self.description,
        )

    def matching_key(self) -> tuple[Any, ...]:
        return (
            self.action,
            self.resource,
            tuple(c.model_dump_json() for c in self.when),
            self.schedule.model_dump_json() if self.schedule else None,
            self.valid.model_dump_json() if self.valid else None,
        )


SUBJECT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"


class OrgPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    deny: list[OrgRule] = Field(default_factory=list, max_length=MAX_ORG_RULES)
    #: AuthZEN subject types and what they name: ``agent`` (a registered agent) or
    #: ``person`` (someone in the directory). Added to the built-in ``agent: agent``,
    #: ``user: person`` and ``identity: person``.
    subjects: dict[str, Literal["agent", "person"]] = Field(default_factory=dict, max_length=64)

    @field_validator("subjects")
    @classmethod
    def _subject_types(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(SUBJECT_TYPE_PATTERN, name):
                raise ValueError(
                    f"subject type {name!r} must be 1 to 64 letters, digits or _.:/- "
                    "starting with a letter or digit"
                )
        return value

    def document(self) -> dict[str, Any]:
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not self.subjects:  # a policy without a mapping keeps the document it had
            document.pop("subjects", None)
        return document


EMPTY_ORG_POLICY = OrgPolicy()


def _contradiction(conditions: list[Condition]) -> str | None:
    """A reason the conditions can never all hold on one attribute, if there is a simple one."""
    by_attribute: dict[str, list[Condition]] = {}
    for condition in conditions:
        by_attribute.setdefault(condition.attribute, []).append(condition)
    for attribute, group in by_attribute.items():
        equal = {repr(c.value) for c in group if c.op == ConditionOp.EQ}
        if len(equal) > 1:
            return f"{attribute} cannot equal both {' and '.join(sorted(equal))}"
        low, high = float("-inf"), float("inf")
        low_open = high_open = False
        for c in group:
            if c.op in (ConditionOp.GT, ConditionOp.GE) and isinstance(c.value, int | float):
                value = float(c.value)
                if value > low or (value == low and c.op == ConditionOp.GT):
                    low, low_open = value, c.op == ConditionOp.GT
            if c.op in (ConditionOp.LT, ConditionOp.LE) and isinstance(c.value, int | float):
                value = float(c.value)
                if value < high or (value == high and c.op == ConditionOp.LT):
                    high, high_open = value, c.op == ConditionOp.LT
        if low > high or (low == high and (low_open or high_open)):
            return f"no number is both above {low:g} and below {high:g} for {attribute}"
        for c in group:
            if (
                c.op == ConditionOp.IN
                and isinstance(c.value, list)
                and equal
                and not {repr(v) for v in c.value} & equal
            ):
                return f"{attribute} must equal {', '.join(sorted(equal))} and be one of {c.value}"
    return None


def parse_org_policy(document: dict[str, Any]) -> OrgPolicy:
    """Validate an org policy document and refuse one that conflicts with itself.

    Refused (:class:`Conflict`, naming the rule): two rules with one id; the same
    rule twice under different ids; a rule whose conditions can never all hold
    (it would be dead text that looks like protection); a rule that denies every
    action on every resource unconditionally (that is ``charter agent suspend``,
    not a policy).
    """
    try:
        policy = OrgPolicy.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc, what="org policy") from exc
    ids: dict[str, int] = {}
    shapes: dict[tuple[Any, ...], str] = {}
    for index, rule in enumerate(policy.deny):
        where = f"deny[{index}]"
        if rule.id in ids:
            raise Conflict(
                f"rule id {rule.id!r} is used by deny[{ids[rule.id]}] and {where}; "
                "ids must be unique",
                field=f"{where}.id",
            )
        ids[rule.id] = index
        key = rule.matching_key()
        if key in shapes:
            raise Conflict(
                f"rule {rule.id!r} repeats rule {shapes[key]!r} exactly; keep one",
                field=where,
            )
        shapes[key] = rule.id
        problem = _contradiction(rule.when)
        if problem:
            raise Conflict(f"rule {rule.id!r} can never apply: {problem}", field=f"{where}.when")
        if (
            rule.action == "*"
            and rule.resource == "*"
            and not (rule.when or rule.schedule or rule.valid)
        ):
            raise Conflict(
                f"rule {rule.id!r} denies every action on every resource for every agent; "
                "to stop agents, suspend them ('charter agent suspend')",
                field=where,
            )
    return policy


def parse_org_policy_text(text: str | bytes, *, source: str = "org policy") -> OrgPolicy:
    return parse_org_policy(load_document(text, source=source))
