"""The approval rules in the service: wildcard JIT for admins only, a named role as approver,
a stale proposal that cannot apply (SQLite, in process, a fixed clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import governance_seed as seed

from charter.domain.charter_parsing import parse_charter
from charter.domain.roles import parse_roles
from charter.errors import Conflict, PermissionDenied
from charter.services.auth import UserRole
from charter.services.changes import Proposal, ProposalStatus
from charter.services.context import Services
from charter.services.governance.jit import JitStatus
from charter.services.people import PersonRecord

ADA, SAM, ROOT_ADMIN = "ada@acme.example", "sam@acme.example", "root@acme.example"


@pytest.fixture
def estate(sqlite_services: Services, tmp_path: Path) -> Services:
    services = sqlite_services
    seed.seed_people_and_agents(services)  # summarizer (active) is ada's
    services.auth.add_user(ROOT_ADMIN, role=UserRole.ADMIN, password=None, actor="test")
    return services


def _policy(services: Services, tmp_path: Path, text: str) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text(text)
    services.governance.use_policy_file(path)


def _widen(services: Services, action: str = "github.*") -> Proposal:
    allow = [*seed.SUMMARIZER["allow"], {"action": action, "resource": "github:*"}]  # type: ignore[misc]
    spec = parse_charter({**seed.SUMMARIZER, "allow": allow})
    proposal = services.governance.changes.update_charter(spec, actor=ADA)
    assert isinstance(proposal, Proposal)
    return proposal


def test_wildcard_jit_with_admin_approval(estate: Services, tmp_path: Path) -> None:
    _policy(estate, tmp_path, "jit: {wildcards: admin}\napprovals: {jit: [owner]}\n")
    jit = estate.governance.jit
    grant = jit.request("summarizer", action="*", resource="*", reason="incident", actor=ADA)
    with pytest.raises(PermissionDenied, match="someone else"):
        jit.approve(grant.id, by=ADA, actor=ADA)
    with pytest.raises(PermissionDenied, match="needs an admin"):
        jit.approve(grant.id, by=SAM, actor=SAM)  # 'owner' does not reach wildcards
    approved = jit.approve(grant.id, by=ROOT_ADMIN, actor=ROOT_ADMIN)
    assert approved.status == JitStatus.APPROVED and approved.decided_by == ROOT_ADMIN
    narrow = jit.request(
        "summarizer", action="crm.write", resource="salesforce:x", reason="r", actor="cli:ops"
    )
    assert jit.approve(narrow.id, by=ADA, actor=ADA).status == JitStatus.APPROVED


def test_a_named_role_approves_and_nobody_else(estate: Services, tmp_path: Path) -> None:
    _policy(estate, tmp_path, "approvals: {charter_widening: ['role:security']}\n")
    estate.people.import_records(
        [*seed.PEOPLE, PersonRecord(email="sec@acme.example", name="Sec", groups=["secops"])],
        actor="test",
    )
    roles = parse_roles(
        {
            "roles": [
                {
                    "name": "security",
                    "groups": ["secops"],
                    "allow": [{"action": "audit.read", "resource": "*"}],
                }
            ]
        }
    )
    estate.decisions.apply_roles(roles, actor="test", source="test")
    proposal = _widen(estate)
    changes = estate.governance.changes
    with pytest.raises(PermissionDenied, match="role 'security'"):
        changes.approve(proposal.id, by=ROOT_ADMIN, actor=ROOT_ADMIN)  # admins are not named
    with pytest.raises(PermissionDenied, match="role 'security'"):
        changes.approve(proposal.id, by=SAM, actor=SAM)  # in the directory, not in the role
    done = changes.approve(proposal.id, by="sec@acme.example", actor="sec@acme.example")
    assert done.status == ProposalStatus.APPROVED
    assert estate.registry.get("summarizer").charter_version == 2


def test_a_proposal_made_against_an_old_version_cannot_apply(estate: Services) -> None:
    proposal = _widen(estate)
    narrower = parse_charter({**seed.SUMMARIZER, "expires": "2027-01-31"})
    assert estate.governance.changes.update_charter(narrower, actor=ADA).agent.charter_version == 2  # type: ignore[union-attr]
    with pytest.raises(Conflict, match="changed since"):
        estate.governance.changes.approve(proposal.id, by=ROOT_ADMIN, actor=ROOT_ADMIN)
    assert estate.registry.get("summarizer").charter_version == 2
    pending = estate.governance.changes.list()
    assert [p.id for p in pending] == [proposal.id]  # still there to be rejected


def test_approvers_are_those_of_the_policy_in_force_now(estate: Services, tmp_path: Path) -> None:
    proposal = _widen(estate)  # proposed while admins approve
    _policy(estate, tmp_path, "approvals: {charter_widening: ['role:security']}\n")
    with pytest.raises(PermissionDenied, match="role 'security'"):
        estate.governance.changes.approve(proposal.id, by=ROOT_ADMIN, actor=ROOT_ADMIN)
    assert estate.registry.get("summarizer").charter_version == 1
