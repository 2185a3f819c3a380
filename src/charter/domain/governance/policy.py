"""The governance policy file: thresholds for the rules and the workflows' timings.

Every value has a sane default, so Charter governs without any file; a file
(``examples/policy/governance.yaml`` documents each key) only states what
differs. Where the policy comes from, first match wins:

1. an explicit path (``--policy FILE`` / the ``path`` argument);
2. ``CHARTER_GOVERNANCE_POLICY`` (a path);
3. ``$CHARTER_HOME/governance.yaml`` if it exists;
4. the defaults.

The policy's digest is part of the findings fingerprint: changing a threshold
makes the next ``charter findings`` re-evaluate.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
)

from charter.domain.charter import Duration
from charter.domain.charter_parsing import load_document, validation_error
from charter.domain.durations import format_duration, parse_duration
from charter.domain.enums import Severity
from charter.domain.governance.channels import DeliveryPolicy
from charter.domain.governance.discovery_sources import DiscoveryPolicy
from charter.errors import InvalidInput

DAY = 86400
MAX_POLICY_BYTES = 1024 * 1024
POLICY_ENV = "CHARTER_GOVERNANCE_POLICY"
POLICY_FILENAME = "governance.yaml"


def _delay(value: object) -> int:
    """A duration that may also be zero ("0" or 0): a grace period one may switch off."""
    return 0 if value in (0, "0", "0s") else parse_duration(value)


Delay = Annotated[
    int,
    BeforeValidator(_delay),
    PlainSerializer(lambda v: format_duration(v) if v else "0", return_type=str),
    Field(ge=0, json_schema_extra={"type": "string", "examples": ["0", "7d"]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSetting(_Strict):
    """Per-rule switches: turn a rule off, or change the severity it reports."""

    enabled: bool = True
    severity: Severity | None = None


class Thresholds(_Strict):
    """What the rules compare against. Rules name the fields they read (their metadata)."""

    stale_after: Duration = 90 * DAY
    rotate_every: Duration = 90 * DAY
    activity_window: Duration = 90 * DAY
    min_observation: Duration = 30 * DAY
    drift_min_denied: int = Field(default=3, ge=1)
    runaway_window: Duration = 3600
    runaway_baseline: Duration = 7 * DAY
    runaway_factor: float = Field(default=10.0, gt=1.0)
    runaway_min_requests: int = Field(default=200, ge=1)
    runaway_min_denials: int = Field(default=20, ge=1)
    shadow_grace: Delay = 0
    review_grace: Delay = 7 * DAY
    narrow_max_actions: int = Field(default=10, ge=1, le=100)
    admin_permissions: list[str] = Field(
        default_factory=lambda: ["*", "*:*", "iam:*", "admin", "admin:*", "owner"],
        max_length=500,
    )
    admin_policies: list[str] = Field(
        default_factory=lambda: [
            "AdministratorAccess",
            "IAMFullAccess",
            "PowerUserAccess",
            "roles/owner",
            "roles/editor",
            "roles/iam.securityAdmin",
            "cluster-admin",
            "Global Administrator",
            "Application Administrator",
            "Privileged Role Administrator",
            "Super Administrator",
            "Organization Administrator",
        ],
        max_length=500,
    )
    broad_scopes: list[str] = Field(
        default_factory=lambda: [
            "https://mail.google.com/",
            "https://www.googleapis.com/auth/gmail.modify",
            "https://www.googleapis.com/auth/gmail.readonly",
            "https://www.googleapis.com/auth/drive",
            "https://www.googleapis.com/auth/drive.readonly",
            "https://www.googleapis.com/auth/admin.directory.user",
            "https://www.googleapis.com/auth/cloud-platform",
            "gmail.readonly",  # Google scopes as connectors shorten them
            "gmail.modify",
            "drive",
            "drive.readonly",
            "admin.directory.user",
            "cloud-platform",
            "Mail.ReadWrite",
            "Mail.Read",
            "Files.ReadWrite.All",
            "Sites.ReadWrite.All",
            "Directory.ReadWrite.All",
            "User.ReadWrite.All",
            "repo",
            "admin:org",
            "admin:repo_hook",
            "delete_repo",
            "channels:history",
            "groups:history",
            "im:history",
            "admin",
            "okta.users.manage",
        ],
        max_length=1000,
    )


class Evaluation(_Strict):
    """When ``charter findings`` re-evaluates, and how the activity rollup settles."""

    max_age: Duration = 3600
    activity_settle: int = Field(default=120, ge=0, le=86400)


class ReviewPolicy(_Strict):
    due_in: Duration = 14 * DAY
    remind_before: list[Duration] = Field(default_factory=lambda: [7 * DAY, DAY], max_length=10)
    suspend_unreviewed: bool = True


class DeparturePolicy(_Strict):
    grace: Duration = 14 * DAY


class ExpiryPolicy(_Strict):
    warn_before: list[Duration] = Field(
        default_factory=lambda: [30 * DAY, 7 * DAY, DAY], max_length=10
    )


class JitPolicy(_Strict):
    default_duration: Duration = 3600
    max_duration: Duration = 8 * 3600
    #: a request whose action or resource does not name its family (``*``, ``*.read``,
    #: ``*:*``) is refused, or (``admin``) accepted but approvable by an admin only
    wildcards: Literal["refuse", "admin"] = "refuse"


APPROVER_PATTERN = r"^(admin|owner|role:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$"


class ApprovalPolicy(_Strict):
    """Who may approve a change that widens an active agent's access (never the requester).

    Each list names who qualifies: ``admin`` (a console admin), ``owner`` (the agent's
    owner) or ``role:NAME`` (a member of a role in the roles file). See
    docs/separation-of-duties.md.
    """

    charter_widening: list[Annotated[str, Field(pattern=APPROVER_PATTERN)]] = Field(
        default_factory=lambda: ["admin"], min_length=1, max_length=20
    )
    #: just-in-time access was always the owner's to approve; never their own request
    jit: list[Annotated[str, Field(pattern=APPROVER_PATTERN)]] = Field(
        default_factory=lambda: ["admin", "owner"], min_length=1, max_length=20
    )
    resume_after_admin_suspension: list[Annotated[str, Field(pattern=APPROVER_PATTERN)]] = Field(
        default_factory=lambda: ["admin"], min_length=1, max_length=20
    )
    #: a proposal nobody decided within this time expires
    expire_after: Duration = 14 * DAY


class RotationPolicy(_Strict):
    schedule_ahead: Duration = 14 * DAY


class WorkerPolicy(_Strict):
    """How often each worker job runs (the worker wakes every ``tick``)."""

    tick: Duration = 30
    evaluate_every: Duration = 300
    workflows_every: Duration = 60
    checkpoint_every: Duration = 3600  # signed audit checkpoints out of the database
    lease: Duration = 600


class SiemPolicy(_Strict):
    """The worker's ``siem`` job: decisions and findings as OCSF events (docs/siem.md).

    ``to`` is a file (JSON lines) or an https URL; ``authorization_env`` names the
    environment variable holding the ``Authorization`` header for a URL (never the
    secret itself in the file). No ``to``: no job."""

    to: str | None = Field(default=None, min_length=1, max_length=2048)
    every: Duration = 300
    batch: int = Field(default=500, ge=1, le=10000)
    authorization_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")


class GovernancePolicy(_Strict):
    """The whole governance policy file."""

    version: int = Field(default=1, ge=1, le=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    rules: dict[str, RuleSetting] = Field(default_factory=dict)
    evaluation: Evaluation = Field(default_factory=Evaluation)
    reviews: ReviewPolicy = Field(default_factory=ReviewPolicy)
    departure: DeparturePolicy = Field(default_factory=DeparturePolicy)
    expiry: ExpiryPolicy = Field(default_factory=ExpiryPolicy)
    jit: JitPolicy = Field(default_factory=JitPolicy)
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    rotation: RotationPolicy = Field(default_factory=RotationPolicy)
    worker: WorkerPolicy = Field(default_factory=WorkerPolicy)
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    discovery: DiscoveryPolicy = Field(default_factory=DiscoveryPolicy)
    siem: SiemPolicy = Field(default_factory=SiemPolicy)

    @field_validator("rules")
    @classmethod
    def _rule_ids(cls, value: dict[str, RuleSetting]) -> dict[str, RuleSetting]:
        for key in value:
            if not key or not all(c.islower() or c.isdigit() or c == "-" for c in key):
                raise ValueError(f"rule id {key!r} is not kebab-case")
        return value

    def digest(self) -> str:
        # what findings depend on (not where notices and events go)
        settings = self.model_dump(mode="json", exclude={"delivery", "siem"})
        text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def check_rules(self, known: Iterable[str]) -> None:
        """Refuse settings for rules that do not exist (a typo must not silently do nothing)."""
        known_ids = set(known)
        for key in self.rules:
            if key not in known_ids:
                raise InvalidInput(
                    f"the policy configures rule {key!r}, which does not exist "
                    f"(see 'charter findings rules')",
                    field=f"rules.{key}",
                )

    def setting(self, rule_id: str) -> RuleSetting:
        return self.rules.get(rule_id) or RuleSetting()


DEFAULT_POLICY = GovernancePolicy()


def parse_policy(document: Any, *, source: str = "policy") -> GovernancePolicy:
    """Validate a parsed YAML/JSON document; errors name the field."""
    if document is None:
        return DEFAULT_POLICY
    if not isinstance(document, dict):
        raise InvalidInput(f"{source}: a governance policy is a mapping", field="policy")
    try:
        return GovernancePolicy.model_validate(document)
    except ValidationError as exc:
        error = validation_error(exc, what=f"governance policy {source}")
        raise InvalidInput(error.message, field=error.field) from exc


def load_policy_file(path: Path) -> GovernancePolicy:
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise InvalidInput(f"{path} is larger than {MAX_POLICY_BYTES} bytes", field="policy")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="policy") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text", field="policy") from exc
    if not text.strip():
        return DEFAULT_POLICY
    # the charter loader: YAML or JSON, size-checked, no anchors or aliases (no YAML bombs)
    return parse_policy(load_document(text, source=str(path)), source=str(path))


def policy_path(home: Path, explicit: Path | None = None) -> Path | None:
    """Which file the policy comes from (see the module docstring), or None for defaults."""
    if explicit is not None:
        return explicit
    configured = os.environ.get(POLICY_ENV)
    if configured:
        return Path(configured).expanduser()
    candidate = home / POLICY_FILENAME
    return candidate if candidate.is_file() else None


def load_policy(home: Path, explicit: Path | None = None) -> GovernancePolicy:
    path = policy_path(home, explicit)
    return load_policy_file(path) if path is not None else DEFAULT_POLICY
