"""Keeping the compiled policy current: load from the store, recompile what changed, watch.

Writers bump change counters in ``meta`` ("charters", "people", "policy",
"roles") inside their transactions (:mod:`charter.store.versions`). A running
decision point notices within a second, in every process:

* **PostgreSQL**: a dedicated connection ``LISTEN``\\ s on ``charter_changes``
  (the NOTIFY is delivered at commit), with a counter check every few seconds
  as a safety net for a dropped connection;
* **SQLite**: the counters are read every 250 ms (one indexed ``SELECT``).

Reloads are incremental: only agents whose state, charter version or owner
changed are fetched and recompiled; the new snapshot is built beside the old
one and swapped in with one assignment, so decisions never wait or see half a
change.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.agent import Agent
from charter.domain.compiled import (
    NEVER_US,
    CompiledAgent,
    PersonEntry,
    Snapshot,
    compile_agent,
    gc_paused,
)
from charter.domain.conditions import epoch_micros
from charter.domain.enums import AgentState
from charter.domain.org_policy import EMPTY_ORG_POLICY, OrgPolicy, parse_org_policy
from charter.domain.roles import EMPTY_ROLES, RolesFile, parse_roles
from charter.domain.stored_charter import stored_charter
from charter.services.governance.jit import active_capabilities
from charter.store import schema
from charter.store.database import Database
from charter.store.decisions_schema import policy_documents
from charter.store.versions import NOTIFY_CHANNEL, read_versions

logger = logging.getLogger("charter.decisions")

WATCHED = ("charters", "people", "policy", "roles", "jit")  # jit: governance JIT grants
_A, _V, _P, _D = schema.agents, schema.charter_versions, schema.people, policy_documents
_CHUNK = 500


def _watched(versions: Mapping[str, int]) -> dict[str, int]:
    return {key: versions.get(key, 0) for key in WATCHED}


def latest_document(connection: Connection, kind: str) -> Any:
    return connection.execute(
        sa.select(_D).where(_D.c.kind == kind).order_by(_D.c.version.desc()).limit(1)
    ).first()


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class SnapshotLoader:
    """Builds snapshots from the store, recompiling only what changed since the last one."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._agent_keys: dict[str, tuple[str, int, str, str]] = {}

    def load(self, previous: Snapshot | None = None) -> Snapshot:
        if previous is None:
            self._agent_keys = {}
        with gc_paused(), self._db.read() as connection:
            versions = _watched(read_versions(connection))
            if previous is not None and versions == _watched(previous.versions):
                return previous
            old = _watched(previous.versions) if previous is not None else {}
            agents = (
                self._agents(connection)
                if previous is None
                or versions["charters"] != old["charters"]
                or versions["jit"] != old["jit"]
                else None
            )
            people = (
                self._people(connection)
                if previous is None or versions["people"] != old["people"]
                else None
            )
            policy = (
                self._policy(connection)
                if previous is None or versions["policy"] != old["policy"]
                else None
            )
            roles = (
                self._roles(connection)
                if previous is None or versions["roles"] != old["roles"]
                else None
            )
        if previous is None:
            return Snapshot(
                {name: agent for name, agent in (agents or {}).items() if agent is not None},
                people or {},
                policy or EMPTY_ORG_POLICY,
                roles or EMPTY_ROLES,
                versions,
            )
        return previous.with_changes(
            agents=agents, people=people, org_policy=policy, roles=roles, versions=versions
        )

    def _agents(self, connection: Connection) -> dict[str, CompiledAgent | None]:
        rows = connection.execute(
            sa.select(_A.c.name, _A.c.state, _A.c.charter_version, _A.c.owner, _A.c.expires)
        ).all()
        # governance: approved just-in-time grants join the agent's allow rules;
        # each carries its own validity window, so it stops allowing at its end by itself.
        jit = active_capabilities(connection)
        keys = {
            row.name: (row.state, row.charter_version, row.owner, repr(jit.get(row.name, [])))
            for row in rows
        }
        changed: dict[str, CompiledAgent | None] = {
            name: None for name in self._agent_keys if name not in keys
        }
        stale = [row for row in rows if self._agent_keys.get(row.name) != keys[row.name]]
        active = [row.name for row in stale if row.state == AgentState.ACTIVE.value]
        for row in stale:
            if row.state != AgentState.ACTIVE.value:  # no rules: state and expiry suffice
                expires = NEVER_US
                if row.expires is not None:
                    expires = epoch_micros(
                        dt.datetime.combine(row.expires, dt.time(), dt.UTC) + dt.timedelta(days=1)
                    )
                changed[row.name] = CompiledAgent(
                    row.name, row.owner, AgentState(row.state), row.charter_version, expires
                )
        for start in range(0, len(active), _CHUNK):
            chunk = active[start : start + _CHUNK]
            documents = connection.execute(
                sa.select(_A, _V.c.document)
                .join(_V, sa.and_(_V.c.agent == _A.c.name, _V.c.version == _A.c.charter_version))
                .where(_A.c.name.in_(chunk))
            )
            for row in documents:
                try:
                    agent = Agent(
                        name=row.name,
                        owner=row.owner,
                        state=AgentState(row.state),
                        charter=stored_charter(dict(row.document)),
                        charter_version=row.charter_version,
                        created_at=_aware(row.created_at),
                        updated_at=_aware(row.updated_at),
                    )
                    changed[row.name] = compile_agent(agent, jit.get(row.name, ()))
                except Exception:  # a charter that no longer compiles allows nothing
                    logger.exception("charter of %s does not compile; it allows nothing", row.name)
                    changed[row.name] = CompiledAgent(
                        row.name, row.owner, AgentState.SUSPENDED, row.charter_version, 0
                    )
        self._agent_keys = keys
        return changed

    def _people(self, connection: Connection) -> dict[str, PersonEntry]:
        rows = connection.execute(
            sa.select(
                _P.c.email, _P.c.name, _P.c.status, _P.c.manager, _P.c.groups, _P.c.external_ids
            )
        )
        return {
            row.email: PersonEntry(
                row.email,
                row.status == "active",
                tuple(sorted(set(row.groups or ()))),
                row.name,
                row.manager,
                tuple(row.external_ids or ()),
            )
            for row in rows
        }

    def _policy(self, connection: Connection) -> OrgPolicy:
        row = latest_document(connection, "policy")
        return parse_org_policy(dict(row.document)) if row is not None else EMPTY_ORG_POLICY

    def _roles(self, connection: Connection) -> RolesFile:
        row = latest_document(connection, "roles")
        return parse_roles(dict(row.document)) if row is not None else EMPTY_ROLES


class ChangeWatcher:
    """A daemon thread that calls ``on_change`` when the store says policy may have changed."""

    def __init__(
        self,
        database: Database,
        on_change: Callable[[], None],
        *,
        poll_interval: float = 0.25,
        safety_interval: float = 5.0,
    ) -> None:
        self._db = database
        self._on_change = on_change
        self._poll = poll_interval
        self._safety = safety_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="charter-policy-watch", daemon=True)
        self.listening = threading.Event()  # set once PostgreSQL LISTEN is in place
        self._last_safety = 0.0
        self._failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _notify(self) -> None:
        try:
            self._on_change()
            self._failures = 0
        except Exception:
            self._failures += 1
            if self._failures in (1, 10) or self._failures % 100 == 0:
                logger.exception(
                    "reloading the compiled policy failed (%d in a row); keeping the previous one",
                    self._failures,
                )
            # back off while the store is unusable (up to 5 s), so a gone store is not hammered
            self._stop.wait(min(5.0, 0.25 * 2 ** min(self._failures, 5)))

    def _run(self) -> None:
        if self._db.is_postgres:
            self._listen()
        else:
            while not self._stop.wait(self._poll):
                self._notify()

    def _listen(self) -> None:
        import psycopg

        url = sa.engine.make_url(self._db.url).set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    self._notify()  # catch up with what changed before LISTEN
                    while not self._stop.is_set():
                        got = False
                        for _ in connection.notifies(timeout=0.5, stop_after=1):
                            got = True
                        if got:
                            self._notify()
                        elif self._stop.wait(0):
                            break
                        else:
                            self._safety_check()
            except Exception:
                self.listening.clear()
                logger.exception("listening for policy changes failed; retrying in 1 s")
                self._notify()
                self._stop.wait(1.0)

    def _safety_check(self) -> None:
        now = time.monotonic()
        if now - self._last_safety >= self._safety:
            self._last_safety = now
            self._notify()
