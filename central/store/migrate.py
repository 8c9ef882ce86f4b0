"""Numbered migrations, applied in order when a store opens, each exactly once.

``migrations/NNNN_name.sql`` holds SQL both databases run, with ``{serial}``, ``{timestamp}``
and ``{json}`` standing for the types they spell differently. Applied versions are rows of
``schema_migrations``. Everything pending is applied in one transaction that excludes other
processes (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so two central processes
starting at once against a fresh database apply each migration once between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from .codec import Clock, decode_time
from .db import Database
from .errors import SchemaTooNew, StoreError
from .records import AppliedMigration

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_WORD = re.compile(r"\{(\w+)\}")
_END = re.compile(r";[ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self, types: dict[str, str]) -> list[str]:
        """The file's statements with the dialect's type words filled in."""

        def word(match: re.Match[str]) -> str:
            try:
                return types[match.group(1)]
            except KeyError:
                raise StoreError(
                    f"migration {self.version:04d}: unknown word {match.group(0)}"
                ) from None

        statements = []
        for chunk in _END.split(_WORD.sub(word, self.sql)):
            code = "\n".join(
                line for line in chunk.splitlines() if not line.lstrip().startswith("--")
            ).strip()
            if code:
                statements.append(code)
        return statements


def load_migrations() -> list[Migration]:
    folder = resources.files(__package__).joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"two migrations share a number: {versions}")
    return found


def _table_sql(db: Database) -> str:
    return (
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        f" applied_at {db.types['timestamp']} NOT NULL)"
    )


async def migrate(
    db: Database, *, clock: Clock, migrations: list[Migration] | None = None
) -> list[int]:
    """Apply what is pending; the versions this call applied (empty if none)."""
    migrations = load_migrations() if migrations is None else migrations
    known = {m.version for m in migrations}
    async with db.migration_transaction() as conn:
        await conn.execute(_table_sql(db))
        applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        unknown = sorted(applied - known)
        if unknown:
            raise SchemaTooNew(
                f"the database has migrations {unknown} this code does not know: "
                "run the newer ChargeKit, or restore a matching backup"
            )
        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            for statement in migration.statements(db.types):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                clock(),
            )
            done.append(migration.version)
        return done


async def history(db: Database) -> list[AppliedMigration]:
    rows = await db.fetch(
        "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
    )
    return [AppliedMigration(r[0], r[1], decode_time(r[2])) for r in rows]
