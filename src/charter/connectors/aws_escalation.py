"""AWS IAM privilege escalation, pure: which identity can become which, and how.

The techniques are the published ones (Rhino Security Labs' list and its successors, as
catalogued by pmapper's edge checkers and BishopFox's iam-vulnerable): rewriting a policy
attached to oneself, attaching or putting a policy on oneself or one's group, joining an
administrators' group, access keys or console passwords for another user, rewriting a
trust policy, assuming a role whose trust allows it, passing a role to a service that runs
one's code (:mod:`charter.connectors.aws_techniques`), and taking over an existing
resource that runs as a role. Every step is one :meth:`PolicySet.check` with the request
as IAM sees it (the role's ARN, ``iam:PassedToService``, the target's tags), so a Deny, a
resource constraint or a condition that blocks a step removes the edge; a condition that
cannot be checked offline keeps it, named in the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from charter.connectors.aws_eval import (
    Context,
    LazyContext,
    PolicySet,
    Verdict,
    evaluate_condition,
    resource_matches,
)
from charter.connectors.aws_techniques import (
    ADMIN_PROBES,
    ATTACH_ADMIN,
    LAMBDA_UPDATE,
    SENSITIVE,
    SERVICE_TECHNIQUES,
    Account,
    Group,
    Principal,
)
from charter.domain.escalation import ADMIN, EscalationEdge, EscalationGraph


class _Analysis:
    def __init__(self, account: Account, now: dt.datetime) -> None:
        self.account = account
        self.now = now
        self.graph = EscalationGraph()
        self.by_arn = {p.arn: p for p in account.principals}
        self.users = [p for p in account.principals if p.kind == "user"]
        self.roles = [p for p in account.principals if p.kind == "role"]
        self.by_service: dict[str, list[Principal]] = {}
        self.named: dict[str, list[Principal]] = {}  # principal ARN → roles whose trust names it
        self.open: list[Principal] = []  # roles trusting the account root or anyone
        root = f"arn:aws:iam::{account.id}:root"
        for role in self.roles:
            for rule in role.trust:
                if rule.effect != "Allow":
                    continue
                for service in rule.services:
                    self.by_service.setdefault(service, []).append(role)
                for who in rule.principals:
                    if who in ("*", root, account.id):
                        if not self.open or self.open[-1] is not role:
                            self.open.append(role)
                    else:
                        self.named.setdefault(who, []).append(role)
        self._ctx: dict[str, dict[str, Any]] = {}
        self._caps: dict[str, frozenset[str]] = {}

    # -- requests ----------------------------------------------------------------------------
    def context(
        self,
        p: Principal,
        target: Principal | Group | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Context:
        return LazyContext(lambda: self._context(p, target, extra))

    def _context(
        self,
        p: Principal,
        target: Principal | Group | None,
        extra: dict[str, Any] | None,
    ) -> dict[str, Any]:
        base = self._ctx.get(p.arn)
        if base is None:
            base = {
                "aws:PrincipalArn": p.arn,
                "aws:PrincipalAccount": self.account.id,
                "aws:PrincipalType": "User" if p.kind == "user" else "AssumedRole",
                "aws:username": p.name if p.kind == "user" else None,
                "aws:PrincipalTag/*": None,
                **{f"aws:PrincipalTag/{k}": v for k, v in p.tags.items()},
            }
            self._ctx[p.arn] = base
        out = dict(base)
        if isinstance(target, Principal):
            out["aws:ResourceTag/*"] = None
            out["iam:ResourceTag/*"] = None
            for k, v in target.tags.items():
                out[f"aws:ResourceTag/{k}"] = v
                out[f"iam:ResourceTag/{k}"] = v
        out.update(extra or {})
        return out

    def check(self, p: Principal, action: str, resource: str, ctx: Context) -> Verdict:
        return p.policies.check(action, resource, ctx, now=self.now)

    def check_new(self, p: Principal, actions: Sequence[str]) -> Verdict | None:
        """The first of ``actions`` it may do on a resource it creates (names freely)."""
        ctx = self.context(p)
        for action in actions:
            if not p.policies.mentions(action):
                continue
            verdict = p.policies.check(action, "*", ctx, now=self.now, any_resource=True)
            if verdict.allowed:
                return verdict._replace(why=action)
        return None

    def edge(
        self,
        p: Principal,
        target: str,
        technique: str,
        reason: str,
        steps: Sequence[tuple[str, Verdict]],
    ) -> None:
        assumptions: list[str] = []
        for _, verdict in steps:
            assumptions += [a for a in verdict.assumptions if a not in assumptions]
        text = reason + (f" ({'; '.join(assumptions)})" if assumptions else "")
        self.graph.add(
            EscalationEdge(
                p.id, target, technique, text, tuple(a for a, _ in steps), tuple(assumptions)
            )
        )

    # -- admins ------------------------------------------------------------------------------
    def is_admin(self, policies: PolicySet, ctx: Context) -> bool:
        return all(policies.check(a, "*", ctx, now=self.now).allowed for a in ADMIN_PROBES)

    def run(self) -> EscalationGraph:
        for p in self.account.principals:
            p.admin = self.is_admin(p.policies, self.context(p))
            if p.admin:
                self.graph.admins.add(p.id)
        for g in self.account.groups:
            g.admin = self.is_admin(g.policies, {})
        for p in self.account.principals:
            if p.admin:
                continue
            self.self_escalation(p)
            self.other_identities(p)
            self.assume(p)
            self.services(p)
        self.wider()
        return self.graph

    def capabilities(self, p: Principal) -> frozenset[str]:
        """The sensitive actions it may do somewhere (unconditionally or not): its reach."""
        found = self._caps.get(p.id)
        if found is None:
            ctx = self.context(p)
            found = frozenset(
                a
                for a in SENSITIVE
                if p.policies.mentions(a)
                and p.policies.check(a, "*", ctx, now=self.now, any_resource=True).allowed
            )
            self._caps[p.id] = found
        return found

    def wider(self) -> None:
        """For identities with no way to admin: the first role they can become that may do
        sensitive things they may not (a more privileged role)."""
        admin_paths = self.graph.paths_to_admin()
        by_id = {p.id: p for p in self.account.principals}
        for edge in self.graph.edges:
            source, target = by_id.get(edge.source), by_id.get(edge.target)
            if source is None or target is None or source.admin or source.id in admin_paths:
                continue
            if source.id in self.graph.wider:
                continue
            extra = self.capabilities(target) - self.capabilities(source)
            if extra:
                self.graph.wider[source.id] = (edge, tuple(sorted(extra)))

    # -- techniques --------------------------------------------------------------------------
    def self_escalation(self, p: Principal) -> None:
        own = (
            (
                ("iam:PutUserPolicy", "put-user-policy"),
                ("iam:AttachUserPolicy", "attach-user-policy"),
            )
            if p.kind == "user"
            else (
                ("iam:PutRolePolicy", "put-role-policy"),
                ("iam:AttachRolePolicy", "attach-role-policy"),
            )
        )
        attach = self.context(p, p, ATTACH_ADMIN)
        for action, technique in own:
            if p.policies.mentions(action):
                verdict = self.check(p, action, p.arn, attach)
                if verdict.allowed:
                    self.edge(
                        p,
                        ADMIN,
                        technique,
                        f"can make itself an administrator: it may {action} on itself",
                        [(action, verdict)],
                    )
        groups = {g.name: g for g in self.account.groups}
        for name in p.groups:
            group = groups.get(name)
            if group is None:
                continue
            for action, technique in (
                ("iam:PutGroupPolicy", "put-group-policy"),
                ("iam:AttachGroupPolicy", "attach-group-policy"),
            ):
                if p.policies.mentions(action):
                    verdict = self.check(p, action, group.arn, self.context(p, None, ATTACH_ADMIN))
                    if verdict.allowed:
                        self.edge(
                            p,
                            ADMIN,
                            technique,
                            f"can make itself an administrator: it may {action} "
                            f"on its group {name}",
                            [(action, verdict)],
                        )
        for arn in p.managed:
            for action, technique, note in (
                (
                    "iam:CreatePolicyVersion",
                    "create-policy-version",
                    "write a new default version of",
                ),
                (
                    "iam:SetDefaultPolicyVersion",
                    "set-default-policy-version",
                    "make an administrator version the default of",
                ),
            ):
                if (
                    technique == "set-default-policy-version"
                    and arn not in self.account.admin_versions
                ):
                    continue
                if p.policies.mentions(action):
                    verdict = self.check(p, action, arn, self.context(p))
                    if verdict.allowed:
                        self.edge(
                            p,
                            ADMIN,
                            technique,
                            f"can make itself an administrator: it may {action} to {note} "
                            f"policy {arn.rsplit('/', 1)[-1]}, which applies to it",
                            [(action, verdict)],
                        )
        if p.kind == "user" and p.policies.mentions("iam:AddUserToGroup"):
            for group in self.account.groups:
                if group.admin and group.name not in p.groups:
                    verdict = self.check(p, "iam:AddUserToGroup", group.arn, self.context(p))
                    if verdict.allowed:
                        self.edge(
                            p,
                            ADMIN,
                            "add-user-to-group",
                            f"can join the administrators' group {group.name}: "
                            "it may iam:AddUserToGroup on it",
                            [("iam:AddUserToGroup", verdict)],
                        )

    def other_identities(self, p: Principal) -> None:
        for action, technique, what in (
            ("iam:CreateAccessKey", "create-access-key", "create an access key for"),
            ("iam:CreateLoginProfile", "create-login-profile", "set a console password for"),
            ("iam:UpdateLoginProfile", "update-login-profile", "change the console password of"),
        ):
            if not p.policies.mentions(action):
                continue
            for user in self.users:
                if user is p:
                    continue
                verdict = self.check(p, action, user.arn, self.context(p, user))
                if verdict.allowed:
                    self.edge(
                        p,
                        user.id,
                        technique,
                        f"can become user {user.name}: it may {action} to {what} it",
                        [(action, verdict)],
                    )
        if p.policies.mentions("iam:UpdateAssumeRolePolicy"):
            for role in self.roles:
                if role is p or role.service_linked:
                    continue
                verdict = self.check(
                    p, "iam:UpdateAssumeRolePolicy", role.arn, self.context(p, role)
                )
                if verdict.allowed:
                    self.edge(
                        p,
                        role.id,
                        "update-assume-role-policy",
                        f"can become role {role.name}: "
                        "it may iam:UpdateAssumeRolePolicy to trust itself",
                        [("iam:UpdateAssumeRolePolicy", verdict)],
                    )

    def trusts(self, role: Principal, p: Principal) -> tuple[bool, bool, tuple[str, ...]]:
        """(allowed, names it explicitly, assumptions) for ``p`` assuming ``role``."""
        root = f"arn:aws:iam::{self.account.id}:root"
        allowed, explicit, assumptions = False, False, []
        ctx = self.context(p)
        for rule in role.trust:
            if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in rule.actions):
                continue
            named = any(
                resource_matches(w, p.arn)
                for w in rule.principals
                if w not in ("*", root, self.account.id)
            )
            broad = any(w in ("*", root, self.account.id) for w in rule.principals)
            if not (named or broad):
                continue
            holds, unknown = evaluate_condition(rule.condition, ctx, self.now)
            if rule.effect == "Deny":
                if holds:
                    return False, False, ()
                continue
            if holds is False:
                continue
            allowed = True
            explicit = explicit or named
            assumptions += [f"if {u} (trust policy)" for u in unknown]
        return allowed, explicit, tuple(assumptions)

    def assume(self, p: Principal) -> None:
        candidates = list(self.named.get(p.arn, []))
        if p.policies.mentions("sts:AssumeRole"):
            candidates += [r for r in self.open if r not in candidates]
            candidates += [
                r
                for who, roles in self.named.items()
                if "*" in who and resource_matches(who, p.arn)
                for r in roles
                if r not in candidates
            ]
        named = {id(r) for r in self.named.get(p.arn, [])}
        for role in candidates:
            if role is p:
                continue
            verdict = self.check(p, "sts:AssumeRole", role.arn, self.context(p, role))
            if not verdict.allowed and id(role) not in named:
                continue  # neither its policies nor a trust naming it lets it in
            trusted, explicit, assumptions = self.trusts(role, p)
            if not trusted:
                continue
            if not verdict.allowed:
                if not explicit or verdict.why.startswith(
                    ("denied", "its permissions", "no service")
                ):
                    # a same-account trust naming it needs no identity policy; a Deny still wins
                    continue
                verdict = Verdict(True)
            verdict = verdict._replace(assumptions=verdict.assumptions + assumptions)
            self.edge(
                p,
                role.id,
                "assume-role",
                f"can become role {role.name}: its trust policy allows it to sts:AssumeRole",
                [("sts:AssumeRole", verdict)],
            )
            for action in ("iam:AttachRolePolicy", "iam:PutRolePolicy"):
                if p.policies.mentions(action):
                    change = self.check(
                        p,
                        action,
                        role.arn,
                        self.context(p, role, ATTACH_ADMIN),
                    )
                    if change.allowed:
                        self.edge(
                            p,
                            ADMIN,
                            "modify-assumable-role",
                            f"can make role {role.name} an administrator ({action}) "
                            "and then assume it",
                            [(action, change), ("sts:AssumeRole", verdict)],
                        )

    def services(self, p: Principal) -> None:
        can_pass = p.policies.mentions("iam:PassRole")
        for technique in SERVICE_TECHNIQUES:
            if technique.passes_role and not can_pass:
                continue
            roles = self.by_service.get(technique.service)
            if not roles:
                continue
            steps: list[tuple[str, Verdict]] = []
            for group in technique.needs:
                verdict = self.check_new(p, group)
                if verdict is None:
                    break
                steps.append((verdict.why, verdict))
            else:
                for role in roles:
                    if (
                        role is p
                        or (technique.needs_profile and not role.instance_profile)
                        or (technique.passes_role and role.service_linked)
                    ):
                        continue
                    role_steps = list(steps)
                    if technique.passes_role:
                        ctx = self.context(p, role, {"iam:PassedToService": technique.service})
                        passed = self.check(p, "iam:PassRole", role.arn, ctx)
                        if not passed.allowed:
                            continue
                        role_steps.insert(0, ("iam:PassRole", passed))
                    if not technique.passes_role:
                        first = role_steps[0]
                        role_steps[0] = (
                            first[0],
                            first[1]._replace(
                                assumptions=(*first[1].assumptions, f"if {technique.what}")
                            ),
                        )
                    actions = ", ".join(a for a, _ in role_steps if a != "iam:PassRole")
                    because = (
                        f"it may iam:PassRole on it and {actions}"
                        if technique.passes_role
                        else f"it may {actions}"
                    )
                    self.edge(
                        p,
                        role.id,
                        technique.id,
                        f"can become role {role.name} because {because}: {technique.what}",
                        role_steps,
                    )
        self.lambda_updates(p)

    def lambda_updates(self, p: Principal) -> None:
        for technique, action in LAMBDA_UPDATE:
            if not p.policies.mentions(action):
                continue
            if self.account.functions is not None:
                for fn_arn, fn_name, role_arn in self.account.functions:
                    role = self.by_arn.get(role_arn)
                    if role is None or role is p:
                        continue
                    verdict = self.check(p, action, fn_arn, self.context(p))
                    if verdict.allowed:
                        self.edge(
                            p,
                            role.id,
                            technique,
                            f"can become role {role.name} because it may {action} "
                            f"on Lambda function {fn_name}, which runs as it",
                            [(action, verdict)],
                        )
                continue
            verdict = p.policies.check(
                action, "*", self.context(p), now=self.now, any_resource=True
            )
            if not verdict.allowed:
                continue
            for role in self.by_service.get("lambda.amazonaws.com", []):
                if role is not p:
                    self.edge(
                        p,
                        role.id,
                        technique,
                        f"can become role {role.name} because it may {action}: "
                        "an existing Lambda function may run as it",
                        [
                            (
                                action,
                                verdict._replace(
                                    assumptions=(
                                        *verdict.assumptions,
                                        "if a Lambda function runs as the role "
                                        "(no function list in the export)",
                                    )
                                ),
                            )
                        ],
                    )


def analyse(account: Account, now: dt.datetime) -> EscalationGraph:
    """Every escalation edge in one account, and its administrators."""
    return _Analysis(account, now).run()
