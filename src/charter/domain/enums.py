"""Kinds, states and severities: closed sets, so ``StrEnum``."""

from __future__ import annotations

from enum import StrEnum


class AgentState(StrEnum):
    DISCOVERED = "discovered"
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECOMMISSIONED = "decommissioned"


class PersonStatus(StrEnum):
    ACTIVE = "active"
    DEPARTED = "departed"


class IdentityKind(StrEnum):
    SERVICE_ACCOUNT = "service_account"
    CLOUD_ROLE = "cloud_role"
    CLOUD_USER = "cloud_user"
    OAUTH_APP = "oauth_app"
    OAUTH_GRANT = "oauth_grant"
    API_KEY_HOLDER = "api_key_holder"
    BOT_USER = "bot_user"
    WORKLOAD = "workload"
    MCP_SERVER = "mcp_server"
    CODE_PROJECT = "code_project"


class CredentialKind(StrEnum):
    API_KEY = "api_key"
    ACCESS_KEY = "access_key"
    TOKEN = "token"
    OAUTH_GRANT = "oauth_grant"
    CLIENT_SECRET = "client_secret"
    CERTIFICATE = "certificate"
    PRIVATE_KEY = "private_key"
    PASSWORD = "password"
    CONNECTION_STRING = "connection_string"
    PUBLIC_KEY = "public_key"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class FindingStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    SUPPRESSED = "suppressed"


class ConditionOp(StrEnum):
    """Comparison operators a charter condition may use. Never code: a closed set."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    NOT_IN = "not_in"
    PREFIX = "prefix"
    CIDR = "cidr"


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"
