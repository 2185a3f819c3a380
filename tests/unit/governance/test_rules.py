"""Each rule: it fires on the case it names, with the right evidence, and not on clean facts."""

from __future__ import annotations

import dataclasses
import datetime as dt

from charter.domain.enums import AgentState, Severity
from charter.domain.governance.facts import CredentialBrief, GrantFacts, RateWindow
from charter.domain.governance.rule_registry import get_rule

from . import factories as f
from .factories import DAY, NOW


def check(rule_id: str, fact, **thresholds):  # type: ignore[no-untyped-def]
    rule = get_rule(rule_id)
    assert rule is not None
    return rule.check(fact, f.ctx(**thresholds))


# -- ownership -----------------------------------------------------------------------------------
def test_departed_owner_suggests_the_nearest_active_manager() -> None:
    hit = check("agent-owner-departed", f.agent(owner="tom@acme.example"))
    assert hit is not None
    # tom's manager lea has left too: the suggestion skips to ada
    assert hit.suggestion == {"new_owner": "ada@acme.example"}
    assert hit.evidence["owner_status"] == "departed"
    assert check("agent-owner-departed", f.agent()) is None
    unknown = check("agent-owner-departed", f.agent(owner="ghost@acme.example"))
    assert unknown is not None and unknown.evidence["owner_status"] == "unknown"
    gone = f.agent(owner="tom@acme.example", state=AgentState.DECOMMISSIONED)
    assert check("agent-owner-departed", gone) is None


def test_identity_without_owner_unless_an_agent_claims_it() -> None:
    hit = check("identity-owner-missing", f.identity(owner=None))
    assert hit is not None and hit.evidence["owner_status"] == "none"
    assert hit.severity == Severity.LOW
    ai = check("identity-owner-missing", f.identity(owner=None, ai_related=True))
    assert ai is not None and ai.severity is None  # the rule's medium
    managed = f.identity(owner=None, properties={"service_linked": True})
    assert check("identity-owner-missing", managed) is None
    assert check("identity-owner-missing", f.identity(owner=None, agent="bot")) is None
    departed = check("identity-owner-missing", f.identity(owner="tom@acme.example"))
    assert departed is not None and departed.severity == Severity.HIGH
    assert check("identity-owner-missing", f.identity()) is None


# -- staleness -----------------------------------------------------------------------------------
def test_stale_identity_and_credential_by_last_use_or_age() -> None:
    hit = check("stale-identity", f.identity(last_used_at=NOW - 120 * DAY))
    assert hit is not None and hit.evidence["unused_days"] == 120
    assert check("stale-identity", f.identity(last_used_at=NOW - 30 * DAY)) is None
    never = check("stale-identity", f.identity(last_used_at=None))
    assert never is not None and "never been used" in never.message
    # a source that records no use for this kind of identity: "never used" means nothing
    assert check("stale-identity", f.identity(last_used_at=None, usage_tracked=False)) is None
    untracked = f.identity(last_used_at=None, properties={"usage_tracked": False})
    assert check("stale-identity", untracked) is None
    assert (
        check("stale-identity", f.identity(last_used_at=NOW - 120 * DAY), stale_after=200 * 86400)
        is None
    )
    cred = check("stale-credential", f.credential(last_used_at=NOW - 100 * DAY))
    assert cred is not None and cred.evidence["stale_after_days"] == 90
    inactive = f.credential(last_used_at=NOW - 100 * DAY, properties={"active": False})
    low = check("stale-credential", inactive)
    assert low is not None and low.severity == Severity.LOW
    assert check("stale-credential", f.credential(source="fs", last_used_at=None)) is None


def test_stale_agent_only_when_active_and_old() -> None:
    assert check("stale-agent", f.agent(last_activity=NOW - 100 * DAY)) is not None
    assert check("stale-agent", f.agent(last_activity=None)) is not None
    young = f.agent(last_activity=None, created_at=NOW - 10 * DAY)
    assert check("stale-agent", young) is None
    assert (
        check("stale-agent", f.agent(last_activity=NOW - 100 * DAY, state=AgentState.SUSPENDED))
        is None
    )


# -- secrets ------------------------------------------------------------------------------------
def test_long_lived_secret_by_age_never_expiring_or_long_lifetime() -> None:
    old = check("long-lived-secret", f.credential(last_rotated_at=NOW - 100 * DAY))
    assert old is not None and old.severity is None and old.evidence["age_days"] == 100
    never = check("long-lived-secret", f.credential(expires_at=None))
    assert never is not None and never.severity == Severity.MEDIUM
    # young, with an expiry: the rotation policy still has time (it fires once it is old)
    assert check("long-lived-secret", f.credential(expires_at=NOW + 300 * DAY)) is None
    assert check("long-lived-secret", f.credential()) is None
    assert check("long-lived-secret", f.credential(created_at=None, last_rotated_at=None)) is None
    assert check("long-lived-secret", f.credential(kind="public_key", expires_at=None)) is None


def test_long_lived_secret_uses_the_agent_charter_cadence() -> None:
    from charter.domain.governance.facts import AgentBrief, RuleContext
    from charter.domain.governance.policy import Thresholds

    context = RuleContext(
        NOW,
        Thresholds(),
        f.PEOPLE,
        {"bot": AgentBrief("bot", "ada@acme.example", AgentState.ACTIVE, "production", 7 * 86400)},
    )
    rule = get_rule("long-lived-secret")
    assert rule is not None
    hit = rule.check(f.credential(agent="bot"), context)  # 10 days old, cadence 7 days
    assert hit is not None and hit.evidence["rotate_every_days"] == 7


def test_leaked_secret_is_critical_when_live_elsewhere() -> None:
    leaked = f.credential(
        id="fs:/repo:credential/x",
        source="fs",
        account="/repo",
        location="config/.env:4",
        provider="aws",
    )
    hit = check("secret-leaked", leaked)
    assert hit is not None and hit.severity is None and hit.evidence["live_in"] == []
    live = CredentialBrief(
        "aws:111122223333:access-key/AKIAEXAMPLE0001", "aws", "111122223333", "access_key"
    )
    same = CredentialBrief(leaked.id, "fs", "/repo", "access_key")
    hit = check("secret-leaked", leaked._replace(same_secret=(same, live)))
    assert hit is not None and hit.severity == Severity.CRITICAL
    assert "live in aws:111122223333" in hit.message
    assert check("secret-leaked", f.credential()) is None


def test_credential_reuse_reported_once_on_the_first_holder() -> None:
    a = CredentialBrief(
        "k8s:prod:secret/a", "k8s", "prod", "api_key", agent="bot", environment="production"
    )
    b = CredentialBrief(
        "k8s:staging:secret/b", "k8s", "staging", "api_key", agent="helper", environment="staging"
    )
    first = f.credential(id=a.id, source="k8s", account="prod", same_secret=(a, b))
    hit = check("credential-reuse", first)
    assert hit is not None and hit.evidence["agents"] == ["bot", "helper"]
    assert hit.severity == Severity.CRITICAL  # across environments (NHI8)
    second = f.credential(id=b.id, source="k8s", account="staging", same_secret=(a, b))
    assert check("credential-reuse", second) is None
    leak_copy = CredentialBrief("fs:/r:credential/c", "fs", "/r", "api_key")
    alone = f.credential(id=a.id, source="k8s", account="prod", same_secret=(a, leak_copy))
    assert check("credential-reuse", alone) is None


def test_static_cloud_keys_name_the_federation_alternative() -> None:
    hit = check("static-cloud-key", f.credential())
    assert hit is not None and "OIDC" in hit.evidence["federation"]
    gcp = f.credential(
        provider="gcp", kind="private_key", properties={"key_type": "SYSTEM_MANAGED"}
    )
    assert check("static-cloud-key", gcp) is None
    assert check("static-cloud-key", f.credential(properties={"active": False})) is None
    assert check("static-cloud-key", f.credential(provider="openai", kind="api_key")) is None


# -- privilege ----------------------------------------------------------------------------------
def test_over_privileged_agent_suggests_least_privilege() -> None:
    used = (
        f.usage("tickets.read", "zendesk:tickets/1"),
        f.usage("tickets.comments.read", "zendesk:tickets/1"),
    )
    hit = check("agent-over-privileged", f.agent(usage=used))
    assert hit is not None
    assert hit.evidence["unused"] == ["slack.post_message on slack:channels/digest"]
    assert hit.suggestion is not None
    actions = [c["action"] for c in hit.suggestion["least_privilege"]]
    assert actions == ["tickets.comments.read", "tickets.read"]  # the wildcard narrowed
    # no activity at all: stale-agent's job, not this rule's
    assert check("agent-over-privileged", f.agent(usage=())) is None
    broad = check("agent-over-privileged", f.agent(charter=f.charter(allow=[{"action": "*"}])))
    assert broad is not None and broad.severity == Severity.HIGH


def test_over_privileged_identity_admin_wildcards_and_unused() -> None:
    admin = GrantFacts(
        "g1",
        "aws:1",
        "*",
        ("s3:GetObject",),
        "role etl may do anything",
        {"admin": True, "patterns": ["*"]},
    )
    hit = check("identity-over-privileged", f.identity(grants=(admin,)))
    assert hit is not None and hit.severity == Severity.HIGH and hit.evidence["wildcards"] == ["*"]
    scoped = GrantFacts("g2", "aws:1", "arn:aws:s3:::r/*", ("s3:GetObject", "s3:PutObject"), "r")
    used = f.identity(grants=(scoped,), usage=(f.usage("s3:GetObject", "arn:aws:s3:::r/a"),))
    hit = check("identity-over-privileged", used)
    assert hit is not None and hit.evidence["unused_permissions"] == ["s3:PutObject"]
    assert hit.suggestion == {"least_privilege": ["s3:GetObject"]}
    assert check("identity-over-privileged", f.identity(grants=(scoped,))) is None


def test_third_party_ai_app_with_broad_scopes() -> None:
    app = f.identity(
        kind="oauth_app",
        ai_related=True,
        name="MeetingNotes AI",
        properties={"scopes": ["https://mail.google.com/", "openid"], "users": 12},
    )
    hit = check("third-party-ai-app-broad-scopes", app)
    assert hit is not None and hit.evidence["broad_scopes"] == ["https://mail.google.com/"]
    internal = f.identity(
        kind="oauth_app",
        ai_related=True,
        properties={"scopes": ["https://mail.google.com/"], "internal": True},
    )
    assert check("third-party-ai-app-broad-scopes", internal) is None
    narrow = f.identity(kind="oauth_app", ai_related=True, properties={"scopes": ["openid"]})
    assert check("third-party-ai-app-broad-scopes", narrow) is None


# -- behaviour ----------------------------------------------------------------------------------
def test_intent_drift_from_denials_and_unchartered_log_actions() -> None:
    denied = (f.usage("tickets.delete", "zendesk:tickets/9", allowed=False, count=4),)
    hit = check("intent-drift", f.agent(usage=denied))
    assert hit is not None and hit.evidence["denied_total"] == 4
    assert check("intent-drift", f.agent(usage=denied), drift_min_denied=5) is None
    logged = (
        f.usage("crm.export", "salesforce:accounts", allowed=None, source="cloudtrail"),
        f.usage("tickets.read", "zendesk:tickets/1", allowed=None, source="cloudtrail"),
    )
    hit = check("intent-drift", f.agent(usage=logged))
    assert hit is not None and hit.severity == Severity.HIGH
    assert [u["action"] for u in hit.evidence["unchartered"]] == ["crm.export"]


def test_runaway_compares_with_the_agent_s_own_baseline() -> None:
    start = NOW - dt.timedelta(hours=1)
    base = start - 7 * DAY
    quiet = RateWindow(start, NOW, 30, 0, base, 168 * 20, 0)  # 20/h usual, 30 now
    assert check("runaway-agent", f.agent(rate=quiet)) is None
    loud = RateWindow(start, NOW, 5000, 3, base, 168 * 20, 0)
    hit = check("runaway-agent", f.agent(rate=loud))
    assert hit is not None and hit.evidence["requests"] == 5000
    assert hit.evidence["window_start"] == start.isoformat()
    storm = RateWindow(start, NOW, 5000, 900, base, 168 * 20, 0)
    critical = check("runaway-agent", f.agent(rate=storm))
    assert critical is not None and critical.severity == Severity.CRITICAL
    new_agent = RateWindow(start, NOW, 5000, 0, base, 0, 0)
    assert check("runaway-agent", f.agent(rate=new_agent)) is None


def test_human_use_of_a_service_identity() -> None:
    user = f.identity(
        kind="cloud_user",
        properties={"console_access": True, "password_last_used": "2026-10-30T08:00:00"},
    )
    hit = check("human-use-of-nhi", user)
    assert hit is not None and hit.severity is None
    assert any("console sign-in" in s for s in hit.evidence["signals"])
    enabled_only = f.identity(kind="cloud_user", properties={"console_access": True})
    medium = check("human-use-of-nhi", enabled_only)
    assert medium is not None and medium.severity == Severity.MEDIUM
    root = f.identity(kind="cloud_user", properties={"root": True, "console_access": True})
    assert check("human-use-of-nhi", root) is None
    assert check("human-use-of-nhi", f.identity(kind="cloud_user")) is None
    # an IAM user that is a person's own account is not a non-human identity
    own = dataclasses.replace(user, name="ada", person="ada@acme.example")
    assert check("human-use-of-nhi", own) is None
    used_by_agent = dataclasses.replace(own, agent="bot")
    hit = check("human-permissions-inherited", used_by_agent)
    assert hit is not None and hit.evidence["person"] == "ada@acme.example"


def test_agent_using_a_person_s_pat_or_inherited_token() -> None:
    pat = f.identity(
        kind="api_key_holder",
        agent="bot",
        name="ci-helper",
        properties={"kind": "fine-grained PAT", "owner_login": "ada"},
    )
    hit = check("human-permissions-inherited", pat)
    assert hit is not None and hit.evidence["via"] == "personal access token"
    inherits = GrantFacts(
        "g", "okta:acme", "org", ("okta.management-api",), "r", {"inherits_user": "00u1"}
    )
    okta = f.identity(kind="api_key_holder", ai_related=True, grants=(inherits,))
    assert check("human-permissions-inherited", okta) is not None
    unattributed = f.identity(kind="api_key_holder", properties={"kind": "fine-grained PAT"})
    assert check("human-permissions-inherited", unattributed) is None


# -- lifecycle ----------------------------------------------------------------------------------
def test_charter_expired_review_overdue_shadow_unadopted() -> None:
    expired = check("charter-expired", f.agent(expires=NOW.date() - 3 * DAY))
    assert expired is not None and expired.evidence["expired_days"] == 3
    assert check("charter-expired", f.agent(expires=NOW.date())) is None
    overdue = check("review-overdue", f.agent(last_review=NOW - 120 * DAY))
    assert overdue is not None and overdue.evidence["review_every_days"] == 90
    assert check("review-overdue", f.agent(last_review=NOW - 95 * DAY)) is None  # grace 7 d
    shadow = f.agent(
        origin="discovered",
        state=AgentState.DISCOVERED,
        credential_count=2,
        created_at=NOW - 30 * DAY,
    )
    hit = check("shadow-agent-unadopted", shadow)
    assert hit is not None and hit.severity == Severity.HIGH
    fresh = f.agent(origin="discovered", state=AgentState.DISCOVERED, created_at=NOW - DAY)
    assert check("shadow-agent-unadopted", fresh) is not None  # no grace by default
    assert check("shadow-agent-unadopted", fresh, shadow_grace="7d") is None
    # a shadow agent's placeholder owner is not reported as a departed owner
    assert check("agent-owner-departed", dataclasses.replace(fresh, owner="x@nowhere")) is None
