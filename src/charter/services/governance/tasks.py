"""Tasks: work Charter files for people when it cannot act itself.

Decommissioning revokes what Charter controls and files a task for each
credential, grant or identity that lives in another system (with the exact
steps); external rotations file one too. Tasks are closed by a person
(``charter tasks done ID``), and the next ingest shows whether the thing is
really gone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.moments import utc
from charter.errors import Conflict, InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.governance_schema import governance_tasks

_T = governance_tasks


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    kind: str
    agent: str | None
    target_type: str
    target: str
    system: str | None
    assignee: str | None
    title: str
    steps: list[str]
    status: TaskStatus
    created_at: dt.datetime
    done_at: dt.datetime | None
    done_by: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "agent": self.agent,
            "target_type": self.target_type,
            "target": self.target,
            "system": self.system,
            "assignee": self.assignee,
            "title": self.title,
            "steps": self.steps,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "done_by": self.done_by,
        }


def _task(row: Any) -> Task:
    return Task(
        row.id,
        row.kind,
        row.agent,
        row.target_type,
        row.target,
        row.system,
        row.assignee,
        row.title,
        list(row.steps or []),
        TaskStatus(row.status),
        utc(row.created_at),
        utc(row.done_at) if row.done_at else None,
        row.done_by,
    )


def file_task(
    connection: Connection,
    *,
    kind: str,
    target_type: str,
    target: str,
    title: str,
    steps: list[str],
    actor: str,
    now: dt.datetime,
    agent: str | None = None,
    system: str | None = None,
    assignee: str | None = None,
) -> str:
    task_id = uuid.uuid4().hex[:16]
    connection.execute(
        sa.insert(_T).values(
            id=task_id,
            kind=kind,
            agent=agent,
            target_type=target_type,
            target=target[:512],
            system=system,
            assignee=assignee,
            title=title,
            steps=steps,
            status=TaskStatus.OPEN.value,
            created_at=now,
            created_by=actor,
        )
    )
    return task_id


class TaskService:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def list(
        self,
        *,
        status: TaskStatus | None = TaskStatus.OPEN,
        agent: str | None = None,
        limit: int = 200,
    ) -> list[Task]:
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")
        query = sa.select(_T)
        if status is not None:
            query = query.where(_T.c.status == status.value)
        if agent:
            query = query.where(_T.c.agent == agent)
        with self._db.read() as connection:
            rows = connection.execute(query.order_by(_T.c.created_at, _T.c.id).limit(limit))
            return [_task(r) for r in rows]

    def get(self, task_id: str) -> Task:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.id == task_id)).first()
        if row is None:
            raise NotFound(f"no task {task_id!r}", field="id")
        return _task(row)

    def complete(self, task_id: str, *, actor: str, note: str | None = None) -> Task:
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(sa.select(_T).where(_T.c.id == task_id)).first()
            if row is None:
                raise NotFound(f"no task {task_id!r}", field="id")
            if row.status != TaskStatus.OPEN.value:
                raise Conflict(f"task {task_id} is already {row.status}", field="status")
            connection.execute(
                sa.update(_T)
                .where(_T.c.id == task_id, _T.c.status == TaskStatus.OPEN.value)
                .values(status=TaskStatus.DONE.value, done_at=now, done_by=actor)
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "task.done",
                    "task",
                    task_id,
                    {"status": "open"},
                    {"status": "done", "title": row.title, "note": note},
                ),
            )
            return _task(connection.execute(sa.select(_T).where(_T.c.id == task_id)).one())
