"""AWS privilege escalation: every technique, its safe twins, the hidden variants, iam-vulnerable.

The fixtures are real ``get-account-authorization-details`` exports written by
``tests/fixtures/aws-escalation/make_fixtures.py``; the connector normalises them
exactly as ``charter discover aws`` does.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from charter.connectors.aws_eval import PolicySet, evaluate_condition
from charter.connectors.aws_policy import AttachedPolicy
from charter.domain.escalation import ADMIN, EscalationEdge, EscalationGraph

from .helpers import FIXTURES, Normalised, normalise

ESC = FIXTURES / "aws-escalation"
GOLDEN = FIXTURES / "golden" / "aws-escalation.json"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _load(name: str) -> tuple[Normalised, Any]:
    n = normalise("aws", ESC / name / "authorization-details.json")
    return n, json.loads((ESC / name / "expected.json").read_text())


@pytest.fixture(scope="module")
def techniques() -> tuple[Normalised, Any]:
    return _load("techniques")


@pytest.fixture(scope="module")
def iam_vulnerable() -> tuple[Normalised, Any]:
    return _load("iam-vulnerable")


def _users(n: Normalised) -> dict[str, Any]:
    return {i.name: i for i in n.identities if i.kind.value == "cloud_user"}


def _edges(n: Normalised, identity_id: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for g in n.grants:
        if g.subject == identity_id and "escalation" in g.properties:
            out.setdefault(g.properties["escalation"], []).append(g)
    return out


def test_every_technique_is_found_and_every_safe_twin_is_not(techniques: Any) -> None:
    n, expected = techniques
    users = _users(n)
    wrong = []
    for name, want in sorted(expected.items()):
        identity = users[name]
        path = identity.properties.get("escalation")
        edges = _edges(n, identity.id)
        if bool(path) != want["flagged"]:
            wrong.append(f"{name}: flagged={bool(path)} ({path and path['summary']})")
        if want.get("edge") and want["edge"] not in edges:
            wrong.append(f"{name}: no {want['edge']} edge (has {sorted(edges)})")
        if want.get("no_edge") and want["no_edge"] in edges:
            wrong.append(
                f"{name}: a {want['no_edge']} edge survived: {edges[want['no_edge']][0].reason}"
            )
    assert not wrong, "\n".join(wrong)
    techniques_covered = {w["edge"] for w in expected.values() if w.get("edge")}
    assert len(techniques_covered) >= 29


def test_reasons_read_as_sentences_and_name_what_cannot_be_checked(techniques: Any) -> None:
    n, _ = techniques
    users = _users(n)
    lam = _edges(n, users["esc-lambda-create-invoke"].id)["lambda-create-invoke"][0]
    assert lam.reason == (
        "user esc-lambda-create-invoke can become role service-admin because it may "
        "iam:PassRole on it and lambda:CreateFunction, lambda:InvokeFunction: "
        "a new Lambda function runs as it"
    )
    assert lam.properties["escalates_to"] == "aws:123456789012:role/service-admin"
    assert lam.properties["becomes_admin"] is True
    mfa = _edges(n, users["hidden-mfa-put-user-policy"].id)["put-user-policy"][0]
    assert "aws:MultiFactorAuthPresent" in mfa.reason
    assert mfa.properties["assumptions"]
    path = users["hidden-mfa-put-user-policy"].properties["escalation"]
    assert path["conditional"] is True and path["to"] == ADMIN
    chain = users["chain-start"].properties["escalation"]
    assert chain["summary"] == "user chain-start -> role chain-middle -> role service-admin (admin)"
    assert [s["technique"] for s in chain["steps"]] == ["assume-role", "lambda-create-invoke"]


def test_a_role_that_may_do_more_is_a_path_short_of_admin(techniques: Any) -> None:
    n, _ = techniques
    users = _users(n)
    wider = users["wider-start"].properties["escalation"]
    assert wider["reaches"] == "more-privileged"
    assert wider["gains"] == ["s3:GetObject", "secretsmanager:GetSecretValue"]
    assert wider["summary"].startswith("user wider-start -> role data-reader (more privileged")
    # becoming a role that may do no more than oneself is no finding
    assert "escalation" not in users["same-start"].properties
    assert _edges(n, users["same-start"].id) == {}  # nor a stored edge
    from charter.domain.governance.facts import RuleContext
    from charter.domain.governance.policy import Thresholds
    from charter.domain.governance.rule_registry import get_rule

    rule = get_rule("privilege-escalation")
    assert rule is not None
    hit = rule.check(_facts(users["wider-start"], n.grants), RuleContext(NOW, Thresholds(), {}, {}))
    assert hit is not None and "a more privileged role" in hit.message
    assert hit.severity is not None and hit.severity.value == "medium"


def test_deny_boundary_and_admin_flag(techniques: Any) -> None:
    n, _ = techniques
    users = _users(n)
    # iam:* under a read-only boundary is neither admin nor escalating
    bounded = users["safe-boundary-iam-admin"]
    assert bounded.properties["admin"] is False and "escalation" not in bounded.properties
    assert users["root-admin"].properties["admin"] is True
    assert "escalation" not in users["root-admin"].properties  # already an administrator
    # a Deny in another attached policy removes the edge
    assert not _edges(n, users["safe-deny-in-other-policy"].id)


def test_iam_vulnerable_counts(iam_vulnerable: Any) -> None:
    n, expected = iam_vulnerable
    users = _users(n)
    assert len(users) == 41
    flagged = {
        u for u, i in users.items() if i.properties.get("escalation") or i.properties.get("admin")
    }
    paths = {u for u, c in expected.items() if c == "path"}
    hidden = {u for u, c in expected.items() if c == "hidden"}
    safe = {u for u, c in expected.items() if c == "safe"}
    assert (len(paths), len(hidden), len(safe)) == (32, 4, 5)
    assert hidden <= flagged
    assert not safe & flagged
    # not flagged, and rightly so for this export: no role it could assume to use
    # Attach/PutRolePolicy, no other version of the policy, a user with no policy at all
    assert paths - flagged == {
        "privesc9-AttachRolePolicy-user",
        "privesc12-PutRolePolicy-user",
        "privesc2-SetExistingDefaultPolicyVersion-user",
        "privesc-AssumeRole-start-user",
    }


def test_golden_paths(techniques: Any, iam_vulnerable: Any) -> None:
    actual: dict[str, Any] = {}
    for label, (n, _) in (("techniques", techniques), ("iam-vulnerable", iam_vulnerable)):
        actual[label] = {
            i.name: i.properties["escalation"]
            for i in sorted(n.identities, key=lambda i: i.id)
            if i.properties.get("escalation")
        }
    if os.environ.get("CHARTER_UPDATE_GOLDEN") == "1" or not GOLDEN.exists():
        GOLDEN.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert actual == json.loads(GOLDEN.read_text())


# -- the evaluator ------------------------------------------------------------------------------
def _set(*statements: dict[str, Any], boundary: dict[str, Any] | None = None) -> PolicySet:
    doc = {"Version": "2012-10-17", "Statement": list(statements)}
    return PolicySet.of([AttachedPolicy("p", "inline", doc)], boundary=boundary)


def test_not_resource_deny_spares_only_what_it_excludes() -> None:
    policies = _set(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:PassRole", "NotResource": "arn:aws:iam::1:role/app-*"},
    )
    assert policies.check("iam:PassRole", "arn:aws:iam::1:role/app-web", now=NOW).allowed
    denied = policies.check("iam:PassRole", "arn:aws:iam::1:role/admin", now=NOW)
    assert not denied.allowed and "denied by" in denied.why


def test_not_action_and_wildcards_are_case_insensitive_for_actions_only() -> None:
    policies = _set(
        {"Effect": "Allow", "NotAction": ["IAM:Create*"], "Resource": "arn:aws:s3:::Bucket/*"}
    )
    assert not policies.check("iam:CreateUser", "arn:aws:s3:::Bucket/x", now=NOW).allowed
    assert policies.check("s3:GetObject", "arn:aws:s3:::Bucket/x", now=NOW).allowed
    assert not policies.check("s3:GetObject", "arn:aws:s3:::bucket/x", now=NOW).allowed


def test_conditions_known_offline_are_evaluated_and_unknown_ones_named() -> None:
    ctx = {"iam:PassedToService": "lambda.amazonaws.com", "aws:PrincipalTag/*": None}
    assert evaluate_condition(
        {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}, ctx, NOW
    ) == (True, [])
    assert (
        evaluate_condition({"StringLike": {"iam:PassedToService": "ec2.*"}}, ctx, NOW)[0] is False
    )
    assert (
        evaluate_condition({"StringEquals": {"aws:PrincipalTag/team": "x"}}, ctx, NOW)[0] is False
    )
    assert (
        evaluate_condition({"StringNotEqualsIfExists": {"aws:PrincipalTag/team": "x"}}, ctx, NOW)[0]
        is True
    )
    assert evaluate_condition({"Null": {"aws:PrincipalTag/team": "true"}}, ctx, NOW)[0] is True
    holds, unknown = evaluate_condition({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, ctx, NOW)
    assert holds is None and "aws:SourceIp" in unknown[0]
    assert (
        evaluate_condition({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, ctx, NOW)[
            0
        ]
        is False
    )


def test_a_conditional_deny_does_not_block_but_is_named() -> None:
    policies = _set(
        {"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "iam:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}},
        },
    )
    verdict = policies.check("iam:PutUserPolicy", "arn:aws:iam::1:user/a", now=NOW)
    assert verdict.allowed and "unless the Deny" in verdict.assumptions[0]


def test_boundary_and_scp_must_both_allow() -> None:
    boundary = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    policies = _set({"Effect": "Allow", "Action": "*", "Resource": "*"}, boundary=boundary)
    assert policies.check("s3:GetObject", "*", now=NOW).allowed
    assert "boundary" in policies.check("iam:PassRole", "*", now=NOW).why
    scp = PolicySet.of(
        [
            AttachedPolicy(
                "p", "inline", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            )
        ],
        scps=[
            ("deny-iam", {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
        ],
    )
    assert not scp.check("iam:PassRole", "*", now=NOW).allowed
    assert scp.check("s3:PutObject", "*", now=NOW).allowed


def test_paths_take_the_fewest_hops() -> None:
    graph = EscalationGraph(admins={"admin-role"})
    graph.add(EscalationEdge("a", "b", "assume-role", "a->b"))
    graph.add(EscalationEdge("b", "admin-role", "assume-role", "b->admin"))
    graph.add(EscalationEdge("a", ADMIN, "put-user-policy", "maybe", assumptions=("if MFA",)))
    graph.add(EscalationEdge("c", "c", "assume-role", "self loops are dropped"))
    paths = graph.paths_to_admin()
    assert set(paths) == {"a", "b"}
    assert [e.technique for e in paths["a"].edges] == ["put-user-policy"]  # one hop beats two
    assert paths["b"].target == "admin-role"
    assert "c" not in paths and "admin-role" not in paths


# -- the finding rule, on what the connector produced ---------------------------------------------
def _facts(identity: Any, grants: list[Any], **overrides: Any) -> Any:
    import dataclasses

    from charter.domain.estate import Identity
    from charter.domain.governance.facts import GrantFacts, IdentityFacts

    values = {f.name: getattr(identity, f.name) for f in dataclasses.fields(Identity)}
    values.update(overrides)
    mine = tuple(
        GrantFacts(**{f.name: getattr(g, f.name) for f in dataclasses.fields(GrantFacts)})
        for g in grants
        if g.subject == identity.id
    )
    return IdentityFacts(**values, grants=mine)


def test_the_rule_flags_iam_vulnerable_paths_and_no_safe_user(iam_vulnerable: Any) -> None:
    from charter.domain.governance.facts import RuleContext
    from charter.domain.governance.policy import Thresholds
    from charter.domain.governance.rule_registry import get_rule

    context = RuleContext(NOW, Thresholds(), {}, {})
    n, expected = iam_vulnerable
    rule, over = get_rule("privilege-escalation"), get_rule("identity-over-privileged")
    assert rule is not None and over is not None
    hits = {}
    for user in _users(n).values():
        hit = rule.check(_facts(user, n.grants), context)
        if hit:
            hits[user.name] = hit
    assert {u for u in hits if expected[u] == "safe"} == set()
    assert len([u for u in hits if expected[u] == "path"]) == 27
    assert len([u for u in hits if expected[u] == "hidden"]) == 4
    lam = hits["privesc15-PassExistingRoleToNewLambdaThenInvoke-user"]
    assert "privesc-high-priv-service-role" in lam.message
    assert "iam:PassRole" in lam.message and lam.evidence["owasp"] == ["NHI5"]
    assert lam.severity is None  # the rule's high: every step holds unconditionally
    ssm = hits["privesc-ssmSendCommand-user"]
    assert ssm.severity is not None and ssm.severity.value == "medium"  # an instance must exist
    # escalation edges are not "permissions never used" or wildcards for the older rule
    quiet = _facts(_users(n)["privesc15-PassExistingRoleToNewLambdaThenInvoke-user"], n.grants)
    over_hit = over.check(quiet, context)
    assert over_hit is None or "iam:PassRole" not in str(over_hit.evidence["admin_grants"])
    agent_held = _facts(_users(n)["privesc10-PutUserPolicy-user"], n.grants, agent="bot")
    held = rule.check(agent_held, context)
    assert held is not None and held.evidence["owasp"] == ["NHI5", "ASI03"]
    departed = _facts(_users(n)["fp1-allow-and-deny-user"], n.grants)
    assert rule.check(departed, context) is None


def test_service_linked_roles_cannot_be_passed(tmp_path: Path) -> None:
    account = "111122223333"
    admin = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    lam = {"Service": "lambda.amazonaws.com"}

    def role(name: str, path: str) -> dict[str, Any]:
        return {
            "RoleName": name,
            "Path": path,
            "Arn": f"arn:aws:iam::{account}:role{path}{name}",
            "AssumeRolePolicyDocument": {
                "Statement": [{"Effect": "Allow", "Principal": lam, "Action": "sts:AssumeRole"}]
            },
            "RolePolicyList": [{"PolicyName": "all", "PolicyDocument": admin}],
            "AttachedManagedPolicies": [],
        }

    passer = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
                "Resource": "*",
            }
        ]
    }
    export = {
        "UserDetailList": [
            {
                "UserName": "dev",
                "Arn": f"arn:aws:iam::{account}:user/dev",
                "UserPolicyList": [{"PolicyName": "p", "PolicyDocument": passer}],
                "GroupList": [],
                "AttachedManagedPolicies": [],
            }
        ],
        "GroupDetailList": [],
        "RoleDetailList": [role("AWSServiceRoleForThing", "/aws-service-role/")],
        "Policies": [],
    }
    path = tmp_path / "authorization-details.json"
    path.write_text(json.dumps(export))
    dev = _users(normalise("aws", path))["dev"]
    assert "escalation" not in dev.properties
    export["RoleDetailList"].append(role("lambda-admin", "/"))
    path.write_text(json.dumps(export))
    dev = _users(normalise("aws", path))["dev"]
    assert dev.properties["escalation"]["summary"] == "user dev -> role lambda-admin (admin)"
