"""The little a repository needs from a database, the same on SQLite and PostgreSQL.

Repositories write SQL once, with asyncpg's numbered placeholders (``$1``, ``$2``); the SQLite
backend rewrites them to ``?1``, ``?2`` in one place. Rows are read by column name::

    row = await db.fetchrow("SELECT id, vendor FROM stations WHERE id = $1", "CP001")
    row["vendor"]
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = Any  # sqlite3.Row or asyncpg.Record: both index by column name


class Connection(Protocol):
    """Statements inside one database transaction."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Database(Protocol):
    dialect: str  # "sqlite" or "postgresql"
    # Words the migrations use for what the dialects spell differently: {serial}, {timestamp}, {json}.
    types: dict[str, str]

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Read committed data outside any transaction."""
        ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    async def write(self, sql: str, *args: Any) -> Row | None:
        """One statement, committed on its own; its first RETURNING row if it has one."""
        ...

    async def write_all(self, sql: str, *args: Any) -> list[Row]:
        """One statement, committed on its own; all its RETURNING rows."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """Statements committed together, or not at all if the block raises."""
        ...

    def migration_transaction(self) -> AbstractAsyncContextManager[Connection]:
        """A transaction that also excludes every other process migrating the same database."""
        ...

    async def close(self) -> None: ...
