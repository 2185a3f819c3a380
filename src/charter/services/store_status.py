"""Which store a command would use, and what is in it: read without creating or migrating it.

``charter status`` answers "am I in the right place?" before anything writes: a
SQLite file that does not exist yet is reported as missing, never created.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from charter.config import Settings
from charter.domain.enums import FindingStatus
from charter.store import governance_schema, schema
from charter.store.database import MIGRATIONS_DIR, Database, open_database
from charter.store.database_url import normalize_url, redact


@dataclass(frozen=True, slots=True)
class StoreStatus:
    url: str
    #: ``CHARTER_DATABASE_URL``, ``CHARTER_HOME`` or ``default``.
    source: str
    home: str
    path: str | None
    exists: bool
    #: The revisions the store is at, and this Charter's migrations it has not run yet.
    revisions: tuple[str, ...] = ()
    pending_revisions: tuple[str, ...] = ()
    agents_by_state: dict[str, int] = field(default_factory=dict)
    people: int = 0
    credentials: int = 0
    open_findings: int = 0
    #: Why the store could not be read, when it exists but did not answer.
    problem: str | None = None

    @property
    def up_to_date(self) -> bool:
        return self.exists and bool(self.revisions) and not self.pending_revisions

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "home": self.home,
            "path": self.path,
            "exists": self.exists,
            "schema": {
                "revisions": list(self.revisions),
                "pending": list(self.pending_revisions),
                "up_to_date": self.up_to_date,
            },
            "counts": {
                "agents": sum(self.agents_by_state.values()),
                "agents_by_state": self.agents_by_state,
                "people": self.people,
                "credentials": self.credentials,
                "open_findings": self.open_findings,
            },
            "problem": self.problem,
        }


def store_status(settings: Settings) -> StoreStatus:
    """What the store named by *settings* holds; never creates, never migrates it."""
    path = settings.sqlite_path
    base = StoreStatus(
        url=redact(normalize_url(settings.database_url)),  # never a password on screen
        source=settings.store_source,
        home=str(settings.home.expanduser().resolve()),
        path=str(path) if path else None,
        exists=False,
    )
    if path is not None and not path.exists():
        return base
    try:
        database = open_database(settings.database_url, migrate=False)
    except Exception as exc:  # a bad URL or a missing driver: say so, do not crash
        return replace(base, problem=_one_line(exc))
    try:
        return _read(database, base)
    except sa.exc.SQLAlchemyError as exc:
        return replace(base, problem=_one_line(exc))
    finally:
        database.dispose()


def pending_revisions(stored: tuple[str, ...]) -> tuple[str, ...]:
    """The migration heads of this version of Charter that a store at *stored* has not reached."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    try:
        reached = {rev.revision for rev in script.iterate_revisions(stored, "base") if rev}
    except RevisionError:  # a revision this code does not know: a newer Charter wrote the store
        return tuple(sorted(set(script.get_heads()) - set(stored)))
    return tuple(sorted(head for head in script.get_heads() if head not in reached))


def _read(database: Database, base: StoreStatus) -> StoreStatus:
    with database.read_engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        if "alembic_version" not in tables:
            return replace(base, exists="agents" in tables)
        version_rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        agents = schema.agents
        by_state = connection.execute(
            sa.select(agents.c.state, sa.func.count()).group_by(agents.c.state)
        )
        findings = governance_schema.findings
        revisions = tuple(sorted(str(v) for v in version_rows.scalars()))
        return replace(
            base,
            exists=True,
            revisions=revisions,
            pending_revisions=pending_revisions(revisions),
            agents_by_state=dict(sorted((str(state), int(n)) for state, n in by_state)),
            people=_count(connection, schema.people, tables),
            credentials=_count(connection, schema.credentials, tables),
            open_findings=_count(
                connection, findings, tables, findings.c.status == FindingStatus.OPEN.value
            ),
        )


def _count(connection: sa.Connection, table: sa.Table, tables: set[str], *where: Any) -> int:
    if table.name not in tables:
        return 0
    query = sa.select(sa.func.count()).select_from(table).where(*where)
    return int(connection.execute(query).scalar_one())


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split())
    return text[:297] + "..." if len(text) > 300 else text


__all__ = ["StoreStatus", "pending_revisions", "store_status"]
