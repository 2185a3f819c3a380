"""Owner reach: which agents, findings, review items and requests a person may touch.

One rule for every interface (the ``/v1`` API and the console forms), so a
route added later cannot get it subtly different:

- admins and auditors reach everything (auditors' writes are refused
  elsewhere, by role);
- an owner reaches an object only when it belongs to an agent they own — for
  a review item also when they are its reviewer (a departed owner's manager),
  for an ownership hand-over when they are the pending owner;
- anything else is refused with *the same* :class:`~charter.errors.NotFound`
  a missing id gets, so ids of other owners' objects cannot be probed.

:func:`reaches` is the one predicate; :class:`OwnerReach` resolves each kind of
object to its owners and applies it. Listings filter with :attr:`OwnerReach.scope`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from charter.domain.agent import Agent
from charter.errors import NotFound, PermissionDenied
from charter.services.governance.findings import normal_id
from charter.store import schema

if TYPE_CHECKING:
    from charter.domain.governance.finding import Finding
    from charter.domain.governance.review_model import ReviewItem
    from charter.services.auth import Principal
    from charter.services.context import Services
    from charter.services.governance.jit import JitGrant
    from charter.services.governance.rotation import Rotation
    from charter.services.governance.tasks import Task

__all__ = ["OwnerReach", "reaches"]


def reaches(principal: Principal, *owners: str | None) -> bool:
    """May ``principal`` reach an object whose owner (or reviewer, …) is one of ``owners``?"""
    scope = principal.owner_scope
    if scope is None:
        return True
    return any(owner is not None and owner.lower() == scope for owner in owners)


class OwnerReach:
    """Owner reach for one principal, over the services (``reach.agent(name)`` and so on).

    Every resolver returns the object when it is reachable and raises the
    missing-id :class:`NotFound` when it does not exist *or* is out of reach.
    """

    def __init__(self, services: Services, principal: Principal) -> None:
        self._services = services
        self.principal = principal

    @property
    def scope(self) -> str | None:
        """The one owner whose objects listings may show; None means every owner."""
        return self.principal.owner_scope

    def _require(self, *owners: str | None, missing: NotFound) -> None:
        if not reaches(self.principal, *owners):
            raise missing

    # -- agents ------------------------------------------------------------------------------
    def agent(self, name: str) -> Agent:
        agent = self._services.registry.get(name)
        self._require(agent.owner, missing=_no_agent(name))
        return agent

    def pending_agent(self, name: str) -> Agent:
        """An agent its owner or its pending owner (taking it over) may act on."""
        agent = self._services.registry.get(name)
        self._require(agent.owner, agent.pending_owner, missing=_no_agent(name))
        return agent

    def agent_filter(self, name: str | None) -> str | None:
        """A listing's ``agent=`` filter: checked like the agent itself."""
        if name and self.scope is not None:
            self.agent(name)
        return name

    def owner_filter(self, owner: str | None, *, field: str = "owner") -> str | None:
        """A listing's ``owner=`` (or ``recipient=``) filter: an owner's listings are always
        their own, and asking for someone else's is refused (403) rather than ignored."""
        scope = self.scope
        if scope is None:
            return owner.strip().lower() if owner else None
        if owner and owner.strip().lower() != scope:
            raise PermissionDenied(
                f"an owner lists only their own, not {field} {owner!r}", field=field
            )
        return scope

    def agent_names(self) -> frozenset[str] | None:
        """Every agent the principal owns (None: no restriction), for filtering listings."""
        scope = self.scope
        if scope is None:
            return None
        agents = schema.agents
        with self._services.db.read() as connection:
            names = connection.execute(
                sa.select(agents.c.name).where(sa.func.lower(agents.c.owner) == scope)
            ).scalars()
            return frozenset(str(n) for n in names)

    # -- governance objects -----------------------------------------------------------------------
    def finding(self, finding_id: str) -> Finding:
        """By id or unique prefix; an owner's prefixes match only their own findings."""
        found = self._services.governance.findings.get(finding_id, owner=self.scope)
        missing = NotFound(f"no finding {normal_id(finding_id)!r}", field="id")
        self._require(found.owner, missing=missing)
        return found

    def review_item(self, campaign_id: str, agent: str) -> ReviewItem:
        item = self._services.governance.reviews.item(campaign_id, agent)
        missing = NotFound(f"agent {agent!r} is not in review {campaign_id!r}", field="agent")
        if self.scope is not None:
            owner = self._services.registry.get(agent).owner
            self._require(item.reviewer, owner, missing=missing)
        return item

    def review_item_visible(self, item: ReviewItem, owned: frozenset[str] | None) -> bool:
        """For listings of campaign items: ``owned`` is :meth:`agent_names`."""
        return owned is None or item.agent in owned or reaches(self.principal, item.reviewer)

    def access_request(self, grant_id: str) -> JitGrant:
        grant = self._services.governance.jit.get(grant_id)
        missing = NotFound(f"no access request {grant_id!r}", field="id")
        if self.scope is not None:
            self._require(self._owner_of(grant.agent), missing=missing)
        return grant

    def rotation(self, rotation_id: str) -> Rotation:
        rotation = self._services.governance.rotation.get(rotation_id)
        self._require(rotation.owner, missing=NotFound(f"no rotation {rotation_id!r}", field="id"))
        return rotation

    def task(self, task_id: str) -> Task:
        task = self._services.governance.tasks.get(task_id)
        self._require(task.assignee, missing=NotFound(f"no task {task_id!r}", field="id"))
        return task

    def _owner_of(self, agent: str) -> str | None:
        try:
            return self._services.registry.get(agent).owner
        except NotFound:
            return None


def _no_agent(name: str) -> NotFound:
    """The registry's own answer for a name that does not exist."""
    return NotFound(f"no agent named {name!r}", field="name")
